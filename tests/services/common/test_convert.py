"""The protobuf edge of services/common: timestamps, the shared vocabulary's enums, progress fields, Structs."""
from __future__ import annotations

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from omp.v1 import common_pb2 as pb, promoter_pb2 as ppb
from omp_services.common.convert import (PROGRESS_FIELDS, enum_from_pb, enum_pb, progress_dict, progress_pb, set_ts,
                                         struct_dict, struct_pb, ts)
from omp_services.common.errors import InvalidArgument
from omp_services.common.vocabulary import (CampaignState, DaemonState, DataReadiness, EntryState, PromotionOutcome,
                                        RunStatus)

VOCABULARY = [(RunStatus, pb.RunStatus), (DaemonState, pb.DaemonState), (CampaignState, pb.CampaignState),
              (DataReadiness, pb.DataReadiness), (PromotionOutcome, ppb.PromotionOutcome),
              (EntryState, ppb.EntryState)]


@pytest.mark.parametrize("words, proto", VOCABULARY, ids=[w.__name__ for w, _ in VOCABULARY])
def test_each_word_of_the_vocabulary_is_the_proto_enum_value_of_the_same_name(words, proto):
    """One definition: the Python words and the proto's values are the same set, both ways."""
    prefix = {RunStatus: "RUN_STATUS_", DaemonState: "DAEMON_STATE_", CampaignState: "CAMPAIGN_STATE_",
              DataReadiness: "DATA_READINESS_", PromotionOutcome: "PROMOTION_OUTCOME_",
              EntryState: "ENTRY_STATE_"}[words]
    assert {prefix + w.name for w in words} == {n for n in proto.keys() if not n.endswith("_UNSPECIFIED")}
    for w in words:
        number = enum_pb(proto, w)
        assert proto.Name(number) == prefix + w.name
        assert enum_from_pb(proto, number, words, "f") is w


@pytest.mark.parametrize("number", [0, 99, -1])
def test_an_unknown_or_unspecified_enum_number_is_refused_naming_the_field(number):
    with pytest.raises(InvalidArgument, match=r"readiness must be one of .*DATA_READINESS_READY.*got " + str(number)):
        enum_from_pb(pb.DataReadiness, number, DataReadiness, "readiness")


def test_an_enum_value_outside_the_allowed_ones_is_refused():
    ended = [s for s in RunStatus if s.ended]
    with pytest.raises(InvalidArgument, match="status must be one of"):
        enum_from_pb(pb.RunStatus, pb.RUN_STATUS_RUNNING, RunStatus, "status", allowed=ended)


def test_the_search_reports_exactly_the_progress_fields_the_proto_declares():
    """The run process sends the search's own Progress plus where it stands across seeds
    (services/miner/child.py): a field renamed on either side would be dropped without a word."""
    from omp_core.ga import Progress
    assert set(Progress.__dataclass_fields__) | {"seeds_done", "seeds_total"} == set(PROGRESS_FIELDS)


def test_progress_round_trips_through_its_message():
    d = {"seed": 7, "generation": 3, "generations": 4, "best_sharpe": 1.25, "evaluations": 90,
         "evaluations_per_second": 12.5, "seeds_done": 1, "seeds_total": 2, "not_a_field": "dropped"}
    assert progress_dict(progress_pb(d)) == {k: v for k, v in d.items() if k != "not_a_field"}


@pytest.mark.parametrize("seconds", [0.0, 1.5, 1_764_000_000.123456789, 1_764_000_000.999999999, -0.25,
                                     -86_400.000001, 253_402_300_799.0])
def test_set_ts_matches_from_nanoseconds(seconds):
    want = Timestamp()
    want.FromNanoseconds(int(round(seconds * 1e9)))
    assert set_ts(Timestamp(), seconds) == want
    assert 0 <= want.nanos < 1_000_000_000
    assert ts(seconds) == want and ts(None) is None


def test_a_json_object_travels_as_a_struct_and_comes_back_as_written():
    doc = {"version": "1.0", "campaigns": [{"priority": 10, "enabled": True, "tags": [], "ratio": 0.25,
                                            "note": None, "nested": {"n": -3, "big": 2 ** 60}}]}
    back = struct_dict(struct_pb(doc))
    assert back["campaigns"][0]["priority"] == 10 and isinstance(back["campaigns"][0]["priority"], int)
    assert back["campaigns"][0]["ratio"] == 0.25 and back["campaigns"][0]["note"] is None
    assert back["campaigns"][0]["nested"]["n"] == -3
    # an integer past 2**53 (a seed may be up to 2**63) would lose digits as a double: it travels as
    # its decimal string, every digit kept
    assert back["campaigns"][0]["nested"]["big"] == str(2 ** 60)
    assert struct_dict(struct_pb({"seed": 2 ** 62 + 1}))["seed"] == "4611686018427387905"
    assert struct_dict(struct_pb({"seed": 2 ** 53}))["seed"] == 2 ** 53
    assert {k: v for k, v in back.items() if k != "campaigns"} == {"version": "1.0"}
    assert back["campaigns"][0]["tags"] == [] and back["campaigns"][0]["enabled"] is True


def test_a_number_json_cannot_carry_becomes_null():
    back = struct_dict(struct_pb({"sharpe": float("nan"), "lag": [float("inf"), 1.5]}))
    assert back == {"sharpe": None, "lag": [None, 1.5]}
