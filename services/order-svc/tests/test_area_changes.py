"""Gathering outlet and region entries over a batch: the last document of each engineer decides."""

from datetime import date

from order_svc.adapters.eligibility_store import AreaChanges, holding_fields, holder_key
from order_svc.domain.eligibility import Holding, HoldingStatus

TYPE = "split_ac_installation"


def engineer(outlet_id: str, status: HoldingStatus = HoldingStatus.GRANTED, listed: list[str] | None = None) -> dict:
    holding = Holding("eng-1", "q-1", TYPE, outlet_id, "region-1", status, date(2027, 6, 30))
    document = {"_id": "eng-1", "name": "张伟", "holdings": {TYPE: holding_fields(holding)}}
    if listed:
        document["listed"] = {TYPE: listed}
    return document


def entries(changes: AreaChanges, area: str, area_id: str) -> dict:
    found = (changes.outlets if area == "outlet" else changes.regions)[(TYPE, area_id)]
    return found.entries


def test_move_within_batch_removes_gathered_entry() -> None:
    changes = AreaChanges()
    changes.gather(engineer("outlet-a"))
    changes.gather(engineer("outlet-b"))

    assert entries(changes, "outlet", "outlet-a") == {holder_key("eng-1"): None}
    assert entries(changes, "outlet", "outlet-b") == {holder_key("eng-1"): "2027-06-30 张伟"}
    assert entries(changes, "region", "region-1") == {holder_key("eng-1"): "2027-06-30 张伟"}
    assert changes.listed == {"eng-1": {TYPE: ["outlet-b", "region-1"]}}


def test_move_back_leaves_listed_alone() -> None:
    changes = AreaChanges()
    changes.gather(engineer("outlet-b", listed=["outlet-a", "region-1"]))
    changes.gather(engineer("outlet-a", listed=["outlet-a", "region-1"]))

    assert entries(changes, "outlet", "outlet-b") == {holder_key("eng-1"): None}
    assert entries(changes, "outlet", "outlet-a") == {holder_key("eng-1"): "2027-06-30 张伟"}
    assert changes.listed == {"eng-1": {}}


def test_lapsed_holding_removes_entry() -> None:
    changes = AreaChanges()
    changes.gather(engineer("outlet-a", HoldingStatus.LAPSED, listed=["outlet-a", "region-1"]))

    assert entries(changes, "outlet", "outlet-a") == {holder_key("eng-1"): None}
    assert entries(changes, "region", "region-1") == {holder_key("eng-1"): None}
    assert changes.listed == {"eng-1": {}}


def test_first_listing_versus_move() -> None:
    first = AreaChanges()
    first.gather(engineer("outlet-a"))
    moved = AreaChanges()
    moved.gather(engineer("outlet-b", listed=["outlet-a", "region-1"]))

    # A first listing names no earlier place and may be stored beside the entries; a move goes last.
    assert first.listed == {"eng-1": {TYPE: ["outlet-a", "region-1"]}}
    assert first.listed_before == {}
    assert moved.listed == {"eng-1": {TYPE: ["outlet-b", "region-1"]}}
    assert moved.listed_before == {"eng-1": {TYPE}}
