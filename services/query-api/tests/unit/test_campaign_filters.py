"""The campaign filter table: every row names a query parameter, and builds its clause, shape and value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from demetra_common.contracts import Channel
from demetra_query_api.campaigns.repository import (
    CAMPAIGN_FIELDS,
    CAMPAIGN_FILTERS,
    campaign_page_statement,
    campaign_page_values,
)
from demetra_query_api.campaigns.schemas import CampaignOut, CampaignQuery
from demetra_query_api.cursors import SortField, SortOrder


def test_every_filter_is_a_query_parameter_of_the_campaign_list() -> None:
    assert set(CAMPAIGN_FILTERS) <= set(CampaignQuery.model_fields)


def test_the_response_model_has_the_fields_the_repository_selects_in_order() -> None:
    assert tuple(CampaignOut.model_fields) == CAMPAIGN_FIELDS


def test_one_channel_is_one_range_and_several_are_merged_ranges_of_one_channel_each() -> None:
    one = campaign_page_statement({"channel": ["facebook"]}, SortField.DATE, SortOrder.DESC, False)
    several = campaign_page_statement(
        {"channel": ["facebook", "tiktok"]}, SortField.DATE, SortOrder.DESC, False
    )
    every = campaign_page_statement({}, SortField.DATE, SortOrder.DESC, False)
    assert "UNION ALL" not in one.sql
    assert "campaigns.channel = $1::VARCHAR" in one.sql
    assert several.sql.count("campaigns.channel = $") == 2
    assert every.sql.count("campaigns.channel = $") == len(Channel)
    values = campaign_page_values({}, None, 51)
    assert {values[f"channel_{n}"] for n in range(len(Channel))} == {c.value for c in Channel}


def test_a_repeated_channel_counts_once() -> None:
    filters = {"channel": ["facebook", "facebook"]}
    statement = campaign_page_statement(filters, SortField.DATE, SortOrder.DESC, False)
    assert statement is campaign_page_statement(
        {"channel": ["facebook"]}, SortField.DATE, SortOrder.DESC, False
    )
    assert statement.args(campaign_page_values(filters, None, 51)) == ["facebook", 51]


def test_name_search_is_a_case_insensitive_literal_substring() -> None:
    filters = {"name": "50%_off", "channel": ["facebook"]}
    statement = campaign_page_statement(filters, SortField.NAME, SortOrder.ASC, False)
    assert "campaigns.name ILIKE $1::VARCHAR ESCAPE '\\'" in statement.sql
    assert statement.args(campaign_page_values(filters, None, 51)) == ["%50\\%\\_off%", "facebook", 51]


def test_statements_are_compiled_once_per_shape_whatever_the_values() -> None:
    first = campaign_page_statement({"min_roi": 0.1}, SortField.ROI, SortOrder.ASC, True)
    second = campaign_page_statement({"min_roi": 0.7, "max_roi": None}, SortField.ROI, SortOrder.ASC, True)
    assert first is second


def test_values_are_converted_as_the_columns_compare_them() -> None:
    filters = {
        "date_from": dt.date(2026, 1, 1),
        "min_cost": 0.1,
        "campaign_id_prefix": "fb_10%",
        "channel": ["google_ads"],
        "limit": 7,  # other request parameters are not filters
    }
    statement = campaign_page_statement(filters, SortField.DATE, SortOrder.DESC, True)
    args = statement.args(campaign_page_values(filters, (dt.date(2026, 2, 1), 42), 51))
    # The date is a range of the date sort's index; the cost and the prefix are checked on the walk.
    assert args == [
        Decimal("0.1"),
        "fb\\_10\\%%",
        "google_ads",
        dt.date(2026, 1, 1),
        dt.date(2026, 2, 1),
        42,
        51,
    ]
    assert "LIKE $2::VARCHAR ESCAPE '\\'" in statement.sql
