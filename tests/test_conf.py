"""CONDITIONAL_API: validation with actionable messages, per-view lookup, reload on change."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from conditional_api.conf import validate_settings, view_options
from conditional_api.strategies import ContentStrategy, UpdatedAtStrategy, VersionStrategy


@pytest.mark.parametrize(
    "value, message",
    [
        (
            {"VIEWS": {"article-detail": {"strategy": "verison"}}},
            "CONDITIONAL_API['VIEWS']['article-detail']['strategy'] is 'verison'; "
            "expected one of: version, updated_at, content",
        ),
        ({"VIEWS": {"x": {"require_precondition": "yes"}}}, "['require_precondition'] must be True or False"),
        ({"VIEWS": {"x": {"shared": "yes"}}}, "['shared'] must be True or False"),
        ({"VIEWS": {"x": {"cach_control": "no-cache"}}}, "has the unknown key 'cach_control'"),
        ({"VIEWS": {"x": {"query_params": "page"}}}, "must be '__all__' or a list of query parameter names"),
        ({"VIEWS": {"x": {"vary": "Accept"}}}, "must be a list of request header names"),
        ({"VIEWS": {"x": "version"}}, "['x'] must be a dict of view options, not str"),
        ({"DEFAULTS": {"strategy": "os.path.join"}}, "'os.path.join'; expected one of"),
        ({"RELEASE": 3}, "['RELEASE'] must be a string"),
        (
            {"RELEASED_AT": "2026-11-23 10:00"},
            "['RELEASED_AT'] is '2026-11-23 10:00'; expected an ISO 8601 time with a time zone",
        ),
        (
            {"RELEASED_AT": ["2026-11-23T10:00:00Z"]},
            "['RELEASED_AT'] is ['2026-11-23T10:00:00Z']; expected an ISO 8601 time",
        ),
        ({"RELESE": "1"}, "has the unknown key 'RELESE'"),
        ({"SKIP_FORMATS": "api"}, "['SKIP_FORMATS'] must be a list of renderer formats"),
        ({"METRICS": "yes"}, "['METRICS'] must be True or False, not 'yes'"),
        ({"VERIFY_SERVE_200": 1}, "['VERIFY_SERVE_200'] must be True or False, not 1"),
        ({"VERIFY_RATE": 5}, "['VERIFY_RATE'] is 5; expected the share of 304s to verify, a number from 0"),
        ({"VERIFY_RATE": "1%"}, "['VERIFY_RATE'] is '1%'; expected the share"),
        ({"VERIFY_RATE": True}, "['VERIFY_RATE'] is True; expected the share"),
        ({"DEFAULTS": {"cache_control": 60}}, "['cache_control'] must be a Cache-Control string"),
        (
            {"VIEWS": {"x": {"cache_control": "public, max-age=abc"}}},
            "CONDITIONAL_API['VIEWS']['x']['cache_control'] is 'public, max-age=abc': "
            "max-age needs a whole number of seconds, such as max-age=60, not 'abc'",
        ),
        ({"VIEWS": {"x": {"cache_control": "s-maxage"}}}, "s-maxage needs a whole number of seconds"),
        ({"VIEWS": {"x": {"cache_control": "no-cahce"}}}, "'no-cahce' is not a Cache-Control response directive"),
        ({"VIEWS": {"x": {"cache_control": "public, private"}}}, "private contradicts public: private keeps"),
        ({"VIEWS": {"x": {"cache_control": "no-store, s-maxage=60"}}}, "no-store contradicts s-maxage"),
        (
            {"VIEWS": {"x": {"cache_control": "no-cache, stale-while-revalidate=30"}}},
            "no-cache contradicts stale-while-revalidate",
        ),
        ({"VIEWS": {"x": {"cache_control": "max-age=1, max-age=2"}}}, "max-age appears twice"),
        ({"VIEWS": {"x": {"cache_control": 'private="Set-Cookie"'}}}, "private takes no argument here"),
        ({"VIEWS": {"x": {"cache_control": "public, =5"}}}, "'=5' has no directive name"),
        (
            {"SURROGATE_KEYS": "Surrogate-Keys"},
            "['SURROGATE_KEYS'] is 'Surrogate-Keys'; expected None or one of: Surrogate-Key, Cache-Tag, xkey",
        ),
    ],
)
def test_wrong_settings_fail_the_system_check_naming_key_and_fix(value, message):
    with override_settings(CONDITIONAL_API=value):
        errors = [e for e in checks.run_checks() if e.id == "conditional_api.E001"]
        assert any(message in e.msg for e in errors), [e.msg for e in errors]
        with pytest.raises(ImproperlyConfigured):
            view_options(["x"])


@pytest.mark.parametrize(
    "cache_control",
    [
        "no-cache",
        "public, max-age=0, s-maxage=60, stale-while-revalidate=30, stale-if-error=600",
        "private, max-age=0, must-revalidate",
        "no-cache, no-store",
        "public, max-age=31536000, immutable",
        'max-age="60"',
        "Public, Max-Age=5",
    ],
)
def test_a_cache_policy_that_caches_read_as_meant_passes(cache_control):
    with override_settings(CONDITIONAL_API={"VIEWS": {"x": {"cache_control": cache_control}}}):
        assert validate_settings() == []
        assert view_options(["x"]).cache_control == cache_control


def test_the_example_settings_are_valid():
    assert validate_settings() == []


def test_lookup_merges_least_specific_first_and_code_wins():
    config = {
        "DEFAULTS": {"cache_control": "max-age=0"},
        "VIEWS": {
            "app.views.ArticleViewSet": {"strategy": "updated_at"},
            "article": {"require_precondition": True, "query_params": ["page"]},
            "article-detail": {"strategy": "version"},
            "article.update": {"cache_control": None},
        },
    }
    with override_settings(CONDITIONAL_API=config):
        options = view_options(["app.views.ArticleViewSet", "article", "article-detail", "article.update"])
        assert isinstance(options.strategy, VersionStrategy)
        assert options.require_precondition is True
        assert options.cache_control is None
        assert options.query_params == frozenset({"page"})
        list_options = view_options(["app.views.ArticleViewSet", "article", "article-list", "article.list"])
        assert isinstance(list_options.strategy, UpdatedAtStrategy) and list_options.cache_control == "max-age=0"
        coded = view_options(["article-detail"], {"strategy": "content", "vary": ["Accept-Language"]})
        assert isinstance(coded.strategy, ContentStrategy) and coded.vary == ("Accept-Language",)


def test_defaults_without_any_setting():
    with override_settings(CONDITIONAL_API=None):
        options = view_options(["anything"])
    assert isinstance(options.strategy, VersionStrategy)
    assert (options.require_precondition, options.cache_control, options.query_params, options.vary) == (
        False,
        "no-cache",
        None,
        (),
    )


def test_a_strategy_by_dotted_path():
    with override_settings(CONDITIONAL_API={"DEFAULTS": {"strategy": "conditional_api.strategies.UpdatedAtStrategy"}}):
        assert isinstance(view_options(["x"]).strategy, UpdatedAtStrategy)


def test_settings_changes_are_picked_up():
    with override_settings(CONDITIONAL_API={"DEFAULTS": {"require_precondition": True}}):
        assert view_options(["x"]).require_precondition is True
    with override_settings(CONDITIONAL_API={"DEFAULTS": {"require_precondition": False}}):
        assert view_options(["x"]).require_precondition is False
