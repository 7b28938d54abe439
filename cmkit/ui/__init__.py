"""Notebook forms over the cmkit facade: each is an ipywidgets box, usable alone in a cell.

    from cmkit.ui import SearchForm, CustomerPage
    SearchForm(cm)                 # find customers; choosing a result opens its page
    CustomerPage(cm, 42)           # one customer: data, company or contacts, tickets, details, actions
    TicketPage(cm, 7)              # one ticket: its customers, their actions, close / reopen, protocol
    TicketSearchForm(cm)           # tickets by customer name, subject, state, queue, number

Every form keeps what it shows as DataFrames (e.g. `form.results`, `page.tickets.frame`), to go on in pandas.
"""

from cmkit.ui.activities import ActivitiesBox, PrintBox
from cmkit.ui.change_company import ChangeCompanyForm
from cmkit.ui.common import Confirm, StatusLine
from cmkit.ui.details import AttachmentsPanel, CommentsPanel, DetailsTabs
from cmkit.ui.history import HistoryPanel
from cmkit.ui.lifecycle import LifecycleForm
from cmkit.ui.page import CustomerPage
from cmkit.ui.picker import CustomerPicker
from cmkit.ui.search import SearchForm
from cmkit.ui.table import Table
from cmkit.ui.ticket import TicketPage
from cmkit.ui.ticket_search import TicketSearchForm
from cmkit.ui.tickets import CreateTicketForm
from cmkit.ui.transfer import TransferForm

__all__ = [
    "ActivitiesBox",
    "AttachmentsPanel",
    "ChangeCompanyForm",
    "CommentsPanel",
    "Confirm",
    "CreateTicketForm",
    "CustomerPage",
    "CustomerPicker",
    "DetailsTabs",
    "HistoryPanel",
    "LifecycleForm",
    "PrintBox",
    "SearchForm",
    "StatusLine",
    "Table",
    "TicketPage",
    "TicketSearchForm",
    "TransferForm",
]
