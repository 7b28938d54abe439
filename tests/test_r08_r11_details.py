"""Comments and attachments (R8-R11): own permissions, the attachment policy, filters, delete with undo."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from detail_samples import docx_bytes, jpeg_bytes, pdf_bytes, png_bytes, reconfigure, xlsx_bytes

from cmkit import CustomerManager, NotFound, PermissionDenied, PreconditionFailed, ValidationError
from cmkit.db.engine import engine_for
from cmkit.domain.attachments import AttachmentRefused

TODAY = dt.datetime.now(dt.UTC).date()


# -- R8: permissions of their own ------------------------------------------------------------------------
def test_r8_user_without_comment_permission_is_refused(cm: CustomerManager, world, as_user, snapshot) -> None:
    anna = world["anna"]
    cm.add_comment(anna.id, "call before noon")
    rita = as_user("rita")  # may read retail customers, but has no comment permissions
    assert rita.customer(anna.id).name == "Anna Müller"
    before = snapshot()
    with pytest.raises(PermissionDenied, match=r"R8: .*'comments_write'"):
        rita.add_comment(anna.id, "sneaky")
    with pytest.raises(PermissionDenied, match=r"R8: .*'comments_read'"):
        rita.comments(anna.id)
    comment_id = int(cm.comments(anna.id)["id"][0])
    with pytest.raises(PermissionDenied, match="R8"):
        rita.delete_comment(comment_id)
    assert snapshot() == before


def test_r8_comment_permissions_are_independent_of_data_permissions(
    cm: CustomerManager, world, as_user, db_url
) -> None:
    def add_commenter(config: dict) -> None:
        config["roles"]["commenter"] = {"comments_read": ["retail"], "comments_write": ["retail"]}
        config["users"]["cora"] = ["commenter"]

    reconfigure(db_url, add_commenter)
    cora = as_user("cora")  # comments only: no read or write permission on the customers' data
    with pytest.raises(PermissionDenied, match="R5"):
        cora.customer(world["anna"].id)
    new_id = cora.add_comment(world["anna"].id, "Prefers e-mail")
    assert list(cora.comments(world["anna"].id)["id"]) == [new_id]
    alice = as_user("alice")  # writes retail data and comments; partners: read only, comments read only
    alice.add_comment(world["bert"].id, "ok")
    with pytest.raises(PermissionDenied, match=r"R8: .*'comments_write' permission on group 'partners'"):
        alice.add_comment(world["pete"].id, "not allowed")
    assert alice.comments(world["pete"].id).empty


def test_r8_attachment_permissions(cm: CustomerManager, world, as_user, snapshot) -> None:
    alice, rita = as_user("alice"), as_user("rita")
    [att] = alice.add_attachments(world["anna"].id, {"note.txt": b"hello"})
    before = snapshot()
    with pytest.raises(PermissionDenied, match=r"R8: .*'attachments_write'"):
        rita.add_attachments(world["anna"].id, {"note.txt": b"hello"})
    with pytest.raises(PermissionDenied, match=r"R8: .*'attachments_read'"):
        rita.attachments(world["anna"].id)
    with pytest.raises(PermissionDenied, match=r"R8: .*'attachments_read'"):
        rita.attachment_data(att)
    with pytest.raises(PermissionDenied, match=r"R8: .*'attachments_write' permission on group 'partners'"):
        alice.add_attachments(world["pete"].id, {"note.txt": b"hello"})
    assert snapshot() == before
    assert alice.attachment_data(att) == b"hello"


def test_r8_comment_text_is_validated(cm: CustomerManager, world, snapshot) -> None:
    before = snapshot()
    for bad in ("", "   ", "bell\x07", None):
        with pytest.raises(ValidationError) as info:
            cm.add_comment(world["anna"].id, bad)  # type: ignore[arg-type]
        assert info.value.field == "text"
    with pytest.raises(NotFound):
        cm.add_comment(999_999, "nobody")
    assert snapshot() == before


# -- R9: the attachment policy ----------------------------------------------------------------------------
def test_r9_real_files_of_allowed_types_are_stored_in_the_database(
    cm: CustomerManager, world, db_url
) -> None:
    files = {
        "logo.png": png_bytes(),
        "photo.jpeg": jpeg_bytes(),
        "contract.pdf": pdf_bytes("Service contract"),
        "letter.docx": docx_bytes("Dear customer"),
        "prices.xlsx": xlsx_bytes(("item", "price"), ("A", 1)),
        "list.csv": "name;city\nMüller;Köln\n".encode("cp1252"),
        "notes.txt": "Grüße\n".encode(),
    }
    ids = cm.add_attachments(world["anna"].id, files, description="onboarding")
    assert len(ids) == len(files)
    df = cm.attachments(world["anna"].id)
    assert list(df["name"]) == list(files)
    assert list(df["type"]) == ["png", "jpg", "pdf", "docx", "xlsx", "csv", "txt"]
    assert set(df["description"]) == {"onboarding"} and set(df["author"]) == {"admin"}
    assert list(df["size"]) == [len(b) for b in files.values()]
    assert not df["pending"].any()
    for attachment_id, data in zip(ids, files.values(), strict=True):
        assert cm.attachment_data(attachment_id) == data
    with engine_for(db_url).connect() as conn:
        stored = conn.execute(
            sa.text("SELECT data FROM attachments WHERE id = :i"), {"i": ids[0]}
        ).scalar_one()
    assert bytes(stored) == files["logo.png"]


def test_r9_disallowed_type_is_refused(cm: CustomerManager, world, snapshot) -> None:
    before = snapshot()
    with pytest.raises(
        AttachmentRefused, match=r"R9: 'tool.exe': type 'exe' is not allowed \(allowed: .*pdf"
    ) as info:
        cm.add_attachments(world["anna"].id, {"tool.exe": b"MZ\x90\x00\x03" + b"\x00" * 60})
    assert isinstance(info.value, ValidationError) and info.value.field == "files"
    with pytest.raises(AttachmentRefused, match="has no file type in its name"):
        cm.add_attachments(world["anna"].id, {"README": b"plain"})
    assert snapshot() == before


def test_r9_pdf_name_on_non_pdf_content_is_refused(cm: CustomerManager, world, snapshot) -> None:
    before = snapshot()
    with pytest.raises(AttachmentRefused, match=r"'invoice.pdf' is named as pdf but holds png content"):
        cm.add_attachments(world["anna"].id, {"invoice.pdf": png_bytes()})
    with pytest.raises(
        AttachmentRefused, match=r"'invoice.pdf' is named as pdf but holds content that is not"
    ):
        cm.add_attachments(world["anna"].id, {"invoice.pdf": b"just some text, no PDF at all"})
    with pytest.raises(AttachmentRefused, match=r"'sheet.xlsx' is named as xlsx but holds docx content"):
        cm.add_attachments(world["anna"].id, {"sheet.xlsx": docx_bytes("hi")})
    assert snapshot() == before


def test_r9_text_types_must_hold_text(cm: CustomerManager, world, snapshot) -> None:
    before = snapshot()
    with pytest.raises(AttachmentRefused, match=r"'data.csv' is named as csv but holds png content"):
        cm.add_attachments(world["anna"].id, {"data.csv": png_bytes()})
    with pytest.raises(
        AttachmentRefused, match=r"'blob.txt' is named as txt but holds binary content that does not read"
    ):
        cm.add_attachments(world["anna"].id, {"blob.txt": b"\x00\x01\x02binary\x00"})
    with pytest.raises(AttachmentRefused, match=r"'notes.txt' is named as txt but holds pdf content"):
        cm.add_attachments(world["anna"].id, {"notes.txt": pdf_bytes("hello")})
    with pytest.raises(AttachmentRefused, match="'zero.txt' is empty"):
        cm.add_attachments(world["anna"].id, {"zero.txt": b""})
    assert snapshot() == before
    # a CSV whose first bytes happen to look like a signature ("BM" of bitmaps) is still text
    [ok] = cm.add_attachments(world["anna"].id, {"cars.csv": b"BMW;Munich\nVW;Wolfsburg\n"})
    assert cm.attachments(world["anna"].id)["type"].tolist() == ["csv"]
    assert cm.attachment_data(ok).startswith(b"BMW")


def test_r9_oversized_file_is_refused(cm: CustomerManager, world, snapshot, db_url) -> None:
    reconfigure(db_url, lambda c: c.setdefault("attachments", {}).update(max_bytes=1_000))
    before = snapshot()
    with pytest.raises(
        AttachmentRefused, match=r"R9: 'big.txt' has 1,001 bytes, more than the 1,000 allowed"
    ):
        cm.add_attachments(world["anna"].id, {"big.txt": b"a" * 1_001})
    assert snapshot() == before
    assert len(cm.add_attachments(world["anna"].id, {"fits.txt": b"a" * 1_000})) == 1


def test_r9_mixed_upload_with_one_bad_file_stores_nothing(cm: CustomerManager, world, snapshot) -> None:
    before = snapshot()
    files = {"a.txt": b"fine", "b.png": png_bytes(), "c.pdf": b"%PDX not a pdf", "d.docx": docx_bytes("fine")}
    with pytest.raises(AttachmentRefused) as info:
        cm.add_attachments(world["anna"].id, files, description="batch")
    assert len(info.value.problems) == 1 and "'c.pdf'" in info.value.problems[0]
    assert "Nothing of this upload was stored" in str(info.value)
    assert snapshot() == before
    assert cm.attachments(world["anna"].id).empty


def test_r9_every_refused_file_is_named(cm: CustomerManager, world) -> None:
    with pytest.raises(AttachmentRefused) as info:
        cm.add_attachments(world["anna"].id, {"x.exe": b"MZ", "y.pdf": b"no", "z.txt": b"ok"})
    assert [p.split("'")[1] for p in info.value.problems] == ["x.exe", "y.pdf"]


def test_r9_file_names_are_for_display_only(cm: CustomerManager, world, tmp_path, monkeypatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    cm.add_attachments(world["anna"].id, {"../../etc/passwd.txt": b"x", "C:\\Users\\a\\report.txt": b"y"})
    assert cm.attachments(world["anna"].id)["name"].tolist() == ["passwd.txt", "report.txt"]
    assert list(cwd.iterdir()) == []  # nothing was written to disk
    with pytest.raises(ValidationError, match="contains control"):
        cm.add_attachments(world["anna"].id, {"bad\nname.txt": b"x"})
    with pytest.raises(ValidationError, match="non-empty dict"):
        cm.add_attachments(world["anna"].id, {})


def test_r9_content_search_finds_words_in_pdf_docx_and_text(cm: CustomerManager, world) -> None:
    anna = world["anna"].id
    cm.add_attachments(
        anna,
        {
            "contract.pdf": pdf_bytes("Maintenance contract", "Service level GOLD"),
            "minutes.docx": docx_bytes("Meeting minutes", "Agreed: Überstunden are billed"),
            "export.csv": b"customer;status\nAcme;escalated\n",
            "sheet.xlsx": xlsx_bytes(("Quarterly", "Forecast")),
        },
    )

    def found(text: str) -> list[str]:
        return cm.attachments(anna, content=text)["name"].tolist()

    assert found("gold") == ["contract.pdf"]
    assert found("SERVICE level") == ["contract.pdf"]
    assert found("überstunden") == ["minutes.docx"]
    assert found("ESCALATED") == ["export.csv"]
    assert found("forecast") == ["sheet.xlsx"]
    assert found("contract") == ["contract.pdf"]
    assert found("platinum") == []
    assert found("100%") == []  # LIKE wildcards are matched literally
    assert cm.attachments(world["bert"].id, content="gold").empty


def test_r9_content_search_needs_searchable_configuration(cm: CustomerManager, world, db_url) -> None:
    reconfigure(db_url, lambda c: c.setdefault("attachments", {}).update(searchable=False))
    cm.add_attachments(world["anna"].id, {"contract.pdf": pdf_bytes("gold")})
    with pytest.raises(ValidationError, match="R9: attachment contents are not searchable") as info:
        cm.attachments(world["anna"].id, content="gold")
    assert info.value.field == "content"
    with engine_for(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT content_text FROM attachments")).scalar_one() is None


def test_r9_allowed_types_come_from_the_configuration(cm: CustomerManager, world, db_url) -> None:
    reconfigure(db_url, lambda c: c.setdefault("attachments", {}).update(allowed_types=["pdf", "jpeg"]))
    with pytest.raises(AttachmentRefused, match=r"type 'txt' is not allowed \(allowed: jpg, pdf\)"):
        cm.add_attachments(world["anna"].id, {"a.txt": b"x"})
    assert len(cm.add_attachments(world["anna"].id, {"p.jpg": jpeg_bytes(), "q.JPEG": jpeg_bytes()})) == 2


# -- R10: filters -------------------------------------------------------------------------------------------
def _backdate(db_url: str, table: str, ids: list[int], when: dt.datetime) -> None:
    with engine_for(db_url).begin() as conn:
        t = sa.table(table, sa.column("id"), sa.column("created_at"))
        conn.execute(sa.update(t).where(t.c.id.in_(ids)).values(created_at=when))


def test_r10_comment_filters(cm: CustomerManager, world, as_user, db_url) -> None:
    anna = world["anna"].id
    old = cm.add_comment(anna, "Contract renewal discussed with Herr ÖZTÜRK")
    alice_id = as_user("alice").add_comment(anna, "Prefers calls in the morning")
    cm.add_comment(world["bert"].id, "morning person too")
    _backdate(db_url, "comments", [old], dt.datetime(2020, 1, 15, 12, 0, tzinfo=dt.UTC))

    def ids(**filters: object) -> list[int]:
        return cm.comments(anna, **filters)["id"].tolist()  # type: ignore[arg-type]

    assert ids() == [old, alice_id]
    assert ids(author="alice") == [alice_id]
    assert ids(text="MORNING") == [alice_id]
    assert ids(text="öztürk renewal") == [old]  # every word, case-insensitive beyond ASCII
    assert ids(text="renewal morning") == []
    assert ids(since="2020-01-01", until="2020-01-31") == [old]
    assert ids(until=dt.date(2020, 1, 15)) == [old]  # a date alone includes that whole day
    assert ids(until=dt.date(2020, 1, 14)) == []
    assert ids(since=TODAY) == [alice_id]
    assert ids(since=TODAY + dt.timedelta(days=1)) == []
    df = cm.comments(anna)
    assert list(df.columns[:6]) == ["id", "customer_id", "created_at", "author", "text", "pending"]
    assert str(df["created_at"].dt.tz) == "UTC" and df["created_at"].iloc[0].year == 2020
    with pytest.raises(ValidationError, match="since"):
        cm.comments(anna, since="last tuesday")
    for bad in ("a\x00b", "\ud800", ""):  # PostgreSQL refuses NUL even in a query: refused by cmkit first
        with pytest.raises(ValidationError) as info:
            cm.comments(anna, text=bad)
        assert info.value.field == "text"
        with pytest.raises(ValidationError, match="author"):
            cm.comments(anna, author=bad)


def test_r10_attachment_filters(cm: CustomerManager, world, as_user, db_url) -> None:
    anna = world["anna"].id
    [old] = cm.add_attachments(anna, {"Vertrag 2019.pdf": pdf_bytes("old")})
    png, txt = as_user("alice").add_attachments(anna, {"Logo.png": png_bytes(), "Notizen.txt": b"n"})
    _backdate(db_url, "attachments", [old], dt.datetime(2019, 6, 1, tzinfo=dt.UTC))

    def ids(**filters: object) -> list[int]:
        return cm.attachments(anna, **filters)["id"].tolist()  # type: ignore[arg-type]

    assert ids() == [old, png, txt]
    assert ids(type="pdf") == [old]
    assert ids(type=["png", "txt"]) == [png, txt]
    assert ids(type="JPEG") == []
    assert ids(name="vertrag") == [old]
    assert ids(name="NOTIZEN") == [txt]
    assert ids(author="alice") == [png, txt]
    assert ids(since="2019-01-01", until="2019-12-31") == [old]
    assert ids(since=TODAY) == [png, txt]
    for field, bad in (
        ("name", "x\x00"),
        ("content", "\x00"),
        ("author", "a\x00"),
        ("type", ["pdf", "p\x00f"]),
    ):
        with pytest.raises(ValidationError) as info:
            cm.attachments(anna, **{field: bad})  # type: ignore[arg-type]
        assert info.value.field == field
    assert set(cm.attachments(anna).columns) >= {
        "id",
        "name",
        "type",
        "size",
        "description",
        "author",
        "created_at",
        "pending",
    }


def test_r10_frames_of_comments_and_attachments(cm: CustomerManager, world, as_user) -> None:
    cm.add_comment(world["anna"].id, "a")
    cm.add_comment(world["pete"].id, "p")
    cm.add_attachments(world["carl"].id, {"c.txt": b"c"})
    cm.deactivate(world["zeta"].id)
    assert sorted(cm.frame("comments")["text"]) == ["a", "p"]
    assert cm.frame("attachments")["name"].tolist() == ["c.txt"]
    assert cm.frame("attachments", include_deactivated=False).empty
    assert cm.frame("comments", group="partners")["text"].tolist() == ["p"]
    assert "data" not in cm.frame("attachments").columns
    rita = as_user("rita")  # may read retail customers but not their comments
    assert rita.frame("comments").empty and rita.frame("attachments").empty


# -- R11: delete with undo ------------------------------------------------------------------------------------
def test_r11_comment_delete_is_pending_then_undone(cm: CustomerManager, world) -> None:
    anna = world["anna"].id
    keep = cm.add_comment(anna, "keep me")
    cm.delete_comment(keep)
    df = cm.comments(anna)
    assert df["pending"].tolist() == [True] and df["deleted_by"].tolist() == ["admin"]
    assert cm.frame("comments")["pending"].tolist() == [True]
    cm.undo_delete_comment(keep)
    assert cm.comments(anna)["pending"].tolist() == [False]
    with pytest.raises(PreconditionFailed, match="R11: comment #.* is not pending deletion"):
        cm.undo_delete_comment(keep)


def test_r11_the_users_next_other_action_makes_the_deletion_final(cm: CustomerManager, world) -> None:
    anna = world["anna"].id
    gone = cm.add_comment(anna, "delete me")
    stays = cm.add_comment(anna, "stay")
    cm.delete_comment(gone)
    cm.edit(world["bert"].id, first_name="Berthold")  # any other write by the same user
    assert cm.comments(anna)["id"].tolist() == [stays]
    with pytest.raises(NotFound, match="R11: comment #.* deletion became final"):
        cm.undo_delete_comment(gone)
    history = cm.history(customer_id=anna)
    assert history["action"].tolist()[-2:] == ["delete_comment", "delete_comment_final"]
    assert history["before"].iloc[-1] == {"author": "admin", "text": "delete me"}


def test_r11_attachment_delete_undo_and_final(cm: CustomerManager, world) -> None:
    anna = world["anna"].id
    first, second = cm.add_attachments(anna, {"a.txt": b"a", "b.txt": b"b"})
    cm.delete_attachment(first)
    assert cm.attachments(anna)["pending"].tolist() == [True, False]
    assert cm.attachment_data(first) == b"a"  # still there until final
    cm.undo_delete_attachment(first)
    cm.delete_attachment(second)
    cm.delete_attachment(first)  # deleting another one is another action: `second` is final now
    df = cm.attachments(anna)
    assert df["id"].tolist() == [first] and df["pending"].tolist() == [True]
    with pytest.raises(NotFound):
        cm.attachment_data(second)
    cm.add_comment(anna, "done")
    assert cm.attachments(anna).empty


def test_r11_only_the_deleting_users_actions_count(cm: CustomerManager, world, as_user) -> None:
    anna = world["anna"].id
    alice = as_user("alice")
    note = alice.add_comment(anna, "mine")
    alice.delete_comment(note)
    cm.edit(world["bert"].id, first_name="B")  # the admin's action does not make alice's deletion final
    assert cm.comments(anna)["pending"].tolist() == [True]
    with pytest.raises(PreconditionFailed, match="R11: only 'alice', who deleted comment"):
        cm.undo_delete_comment(note)
    alice.undo_delete_comment(note)
    assert cm.comments(anna)["pending"].tolist() == [False]


def test_r11_reads_and_refused_actions_do_not_make_it_final(cm: CustomerManager, world, as_user) -> None:
    anna = world["anna"].id
    alice = as_user("alice")
    note = alice.add_comment(anna, "mine")
    alice.delete_comment(note)
    alice.comments(anna)
    alice.attachments(anna)
    alice.render_page(anna)
    with pytest.raises(PermissionDenied):
        alice.edit(world["pete"].id, first_name="P")  # refused: changes nothing, finalises nothing (R30)
    assert alice.comments(anna)["pending"].tolist() == [True]
    alice.undo_delete_comment(note)


def test_r24_deleting_a_contact_removes_its_comments_and_attachments(
    cm: CustomerManager, world, db_url
) -> None:
    carl = world["carl"].id
    cm.add_comment(carl, "bye")
    cm.add_attachments(carl, {"c.txt": b"c"})
    cm.add_comment(world["anna"].id, "stays")
    cm.delete(carl)
    with engine_for(db_url).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM attachments")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT customer_id FROM comments")).scalars().all() == [world["anna"].id]


def test_r29_details_are_audited(cm: CustomerManager, world) -> None:
    anna = world["anna"].id
    note = cm.add_comment(anna, "hello")
    [att] = cm.add_attachments(anna, {"a.txt": b"a"}, description="first")
    cm.delete_attachment(att)
    cm.undo_delete_attachment(att)
    cm.delete_comment(note)
    h = cm.history(customer_id=anna)
    assert h["action"].tolist()[-5:] == [
        "add_comment",
        "add_attachment",
        "delete_attachment",
        "undo_delete_attachment",
        "delete_comment",
    ]
    added = h[h["action"] == "add_attachment"].iloc[0]
    assert added["after"]["name"] == "a.txt" and added["after"]["description"] == "first"
    assert added["entity"] == "attachment" and added["entity_id"] == att
