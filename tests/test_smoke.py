from cmkit import CustomerManager


def test_r1_customer_is_one_record_seen_from_its_tickets(cm: CustomerManager, world) -> None:
    t = cm.create_ticket(world["anna"].id, "helpdesk", "Printer")
    cm.edit(world["anna"].id, email="anna.mueller@acme.example")
    assert cm.ticket(t.id).main_customer_id == world["anna"].id
    assert cm.customer(world["anna"].id).fields["email"] == "anna.mueller@acme.example"
    assert len(cm.frame()) == 8
