"""The scheduler's messages: what the servicer builds by hand must equal what the plain constructors give."""
from __future__ import annotations

import pytest

from omp.v1 import common_pb2 as pb, scheduler_pb2 as spb
from omp_services.common.convert import ts
from omp_services.scheduler.entities import Campaign
from omp_services.scheduler.servicer import campaign_pb, campaigns_into


def _reference(c: Campaign) -> pb.Campaign:
    """Every field through the constructor, defaults included."""
    return pb.Campaign(id=c.id, name=c.name, config_path=c.config_path, market=c.market, priority=c.priority,
                       enabled=c.enabled, repeat=c.repeat, tags=c.tags, state=pb.CampaignState.Value("CAMPAIGN_STATE_" + c.state.upper()), attempt=c.attempt,
                       consecutive_failures=c.consecutive_failures, last_error=c.last_error,
                       config_hash=c.config_hash, last_run_id=c.last_run_id, created_at=ts(c.created_at),
                       updated_at=ts(c.updated_at), not_before=ts(c.not_before))


FULL = Campaign("camp_full", "every field", "sub/c.toml", "crypto", 7, False, True, ("a", "b c"), "failed",
                1_700_000_000.25, 1_700_000_100.5, 1_700_000_050.0, 3, 2, "boom: exit 1", "ab" * 32, "run_x",
                1_700_003_700.5)
BARE = Campaign("camp_bare", "defaults", "c.toml", "us", 0, True, False, (), "queued", 1_700_000_000.0,
                1_700_000_000.0, 1_700_000_000.0)


@pytest.mark.parametrize("c", [FULL, BARE], ids=["every-field", "defaults"])
def test_campaign_pb_equals_the_constructor(c):
    assert campaign_pb(c) == _reference(c)
    assert campaign_pb(c).SerializeToString(deterministic=True) == _reference(c).SerializeToString(deterministic=True)


def test_a_page_is_built_in_its_response():
    out = spb.ListCampaignsResponse(total_size=2)
    campaigns_into(out.campaigns, [FULL, BARE])
    assert list(out.campaigns) == [_reference(FULL), _reference(BARE)]
