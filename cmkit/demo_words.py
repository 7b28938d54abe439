"""The word lists the demo data is drawn from: names, firms, streets, cities, ticket subjects (with the
accents, umlauts and punctuation real customer data has)."""

from __future__ import annotations

from cmkit.domain.text import fold_variants

FIRST = (
    "Anna Lena Jürgen Jörg Björn Sören Käthe Günther Zoë Chloé José François Renée Ana Łukasz Ştefan Çağla "
    "Søren Ærin Dominik Sabine Thomas Katrin Ömer Ayşe Mehmet Élodie Inès Håkon Mária Petra Jan Lea Noah "
    "Mia Felix Emma Luis Sophie Paul Marie Jonas Hannah Elias Lina Ben Clara Anton Ida Malte Frieda"
).split()
LAST = (
    "Müller Schmidt Schneider Fischer Weiß Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer Richter Klein "
    "Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Krause Meier "
    "Lehmann Köhler Groß Jäger Möller Öztürk Yılmaz Kowalski Nowak Dvořák Novák García López Martínez Dubois "
    "Lefèvre Rossi Bianchi Andersson Nørgaard O'Brien Ångström Straßer Grünewald Fuß Böhm"
).split()
FIRMS = (
    "Bäckerei Blumenladen Autohaus Möbelhaus Apotheke Buchhandlung Brauerei Metzgerei Elektro Optik "
    "Schreinerei Café Reisebüro Druckerei Gärtnerei Sanitär Fahrradladen Weinhandlung"
).split()
CORP = (
    "Logistik Systeme Software Maschinenbau Energie Consulting Medizintechnik Bau Chemie Handel "
    "Solutions Analytics Robotics Pharma Versicherung"
).split()
FORMS = ["GmbH", "AG", "GmbH & Co. KG", "SE", "e.K.", "KG", "S.A.", "S.à r.l.", "Ltd.", "B.V."]
STREETS = (
    "Hauptstraße Bahnhofstraße Gartenweg Schillerstraße Goethestraße Lindenallee Mühlweg Kirchplatz "
    "Königsallee Rosenstraße Am Mühlbach Große Bleichen Rue de la Paix Via Roma Kärntner Straße"
).split(" ")
CITIES = [
    ("Köln", "50667", "DE"),
    ("München", "80331", "DE"),
    ("Düsseldorf", "40213", "DE"),
    ("Zürich", "8001", "CH"),
    ("Wien", "1010", "AT"),
    ("Lübeck", "23552", "DE"),
    ("Göttingen", "37073", "DE"),
    ("Gießen", "35390", "DE"),
    ("Genève", "1201", "CH"),
    ("Bruxelles", "1000", "BE"),
    ("Málaga", "29001", "ES"),
    ("Kraków", "30-001", "PL"),
    ("Århus", "8000", "DK"),
    ("Besançon", "25000", "FR"),
    ("Berlin", "10115", "DE"),
    ("Hamburg", "20095", "DE"),
]
SUBJECTS = [
    "Drucker druckt nicht",
    "Rechnung doppelt erhalten",
    "Passwort zurücksetzen",
    "Lieferung verspätet",
    "Rückfrage zur Bestellung",
    "VPN-Zugang gesperrt",
    "Kündigung des Vertrags",
    "Adressänderung",
    "Reklamation: Ware beschädigt",
    "Angebot für Wartungsvertrag",
    "Login schlägt fehl",
    "Gutschrift fehlt",
    "Termin für Vor-Ort-Service",
    "Änderung der Bankverbindung",
    "Newsletter abbestellen",
    "Invoice question",
    "Cannot access portal",
    "Upgrade to premium tier",
    "Data export request (GDPR)",
]


def ascii_of(s: str) -> str:
    """The name spelled in ASCII letters (for e-mail addresses)."""
    return "".join(c for c in fold_variants(s)[-1] if c.isalnum() or c in ".-")
