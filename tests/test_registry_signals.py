"""Per-version registry signals from real packuments and constructed variants (pure)."""

from __future__ import annotations

from insights_fixtures import constructed, real

from scorer.registry import FetchResult
from scorer.signals import version_signals


def signals(doc: dict[str, object], version: str, name: str = "pkg"):  # type: ignore[no-untyped-def]
    return version_signals(
        FetchResult(name, "https://registry.example.invalid/", doc, "network"), version
    )


def test_real_full_document() -> None:
    s = signals(real("has-package-exports"), "1.3.0")
    assert s.current is not None and s.previous is not None
    assert (s.current.publisher, s.current.publisher_email_domain) == ("ljharb", "gmail.com")
    assert s.current.published_at == "2022-04-07T13:21:32.639Z"
    assert s.package_created_at == "2020-01-09T07:54:56.494Z"
    assert s.current.registry_signature is True and s.current.provenance is False
    assert s.current.trusted_publisher is False and s.current.maintainers == ("ljharb",)
    assert s.current.install_scripts == () and s.current.has_install_script is False
    assert s.previous.version == "1.2.3"  # publish order, not semver order


def test_previous_follows_publish_time_across_prereleases() -> None:
    s = signals(real("has-package-exports"), "1.2.1")
    assert s.previous is not None and s.previous.version == "1.2.1-alpha.3"
    first = signals(real("has-package-exports"), "1.0.0")
    assert first.previous is None and "first version" in (first.reason("previous") or "")


def test_install_script_appears_and_disappears_in_events() -> None:
    doc = real("events")
    with_script = [v for v, m in doc["versions"].items() if "install" in m.get("scripts", {})]
    assert with_script, "fixture should have install scripts on some versions"
    s = signals(doc, with_script[0])
    assert s.current is not None and "install" in (s.current.install_scripts or ())


def test_old_version_without_npm_user_is_unknown_not_false() -> None:
    s = signals(real("abbrev"), "1.0.3")
    assert s.current is not None and s.current.publisher is None
    assert s.current.reason("publisher") == "no _npmUser on 1.0.3"
    later = signals(real("abbrev"), "1.0.6")
    assert later.current is not None and later.current.publisher_email_domain == "npmjs.com"
    assert later.previous is not None and later.previous.publisher_email_domain == "izs.me"


def test_abbreviated_document_knows_only_has_install_script() -> None:
    doc = real("fsevents-min")
    version = sorted(doc["versions"])[0]
    s = signals(doc, version, "fsevents")
    assert s.current is not None and s.current.has_install_script is True
    assert s.current.install_scripts is None and s.current.publisher is None
    assert "strip" in (s.current.reason("publisher") or "")


def test_constructed_variants() -> None:
    docs = constructed()
    t = signals(docs["constructed-trusted-lost"], "1.3.0")
    assert t.previous is not None and t.current is not None
    assert (t.previous.trusted_publisher, t.previous.trusted_publisher_id) == (True, "github")
    assert t.current.trusted_publisher is False
    p = signals(docs["constructed-provenance-lost"], "1.3.0")
    assert p.previous is not None and p.current is not None
    assert (p.previous.provenance, p.current.provenance) == (True, False)
    i = signals(docs["constructed-install-script"], "1.3.0")
    assert i.current is not None and i.current.install_scripts == ("postinstall",)
    assert i.previous is not None and i.previous.has_install_script is False
    c = signals(docs["constructed-publisher-changed"], "1.3.0")
    assert c.current is not None and c.previous is not None
    assert (c.previous.publisher, c.current.publisher) == ("ljharb", "mallory-example")
    stripped = signals(docs["constructed-stripped"], "1.3.0")
    assert stripped.current is not None
    assert stripped.current.provenance is None and stripped.current.maintainers is None
    assert "mirror may strip" in (stripped.current.reason("provenance") or "")
    assert all("_provscore_constructed" in d for d in docs.values())


def test_missing_document_and_missing_version() -> None:
    gone = version_signals(
        FetchResult("x", "r", None, "none", "x not found on r (HTTP 404)"), "1.0.0"
    )
    assert gone.current is None and gone.reason("current") == "x not found on r (HTTP 404)"
    s = signals(real("abbrev"), "9.9.9")
    assert s.current is None and "not in the registry document" in (s.reason("current") or "")


def test_a_previous_version_whose_entry_is_not_an_object_is_unknown_not_a_crash() -> None:
    # Found by tests/test_fuzz.py: "versions": {"3.2.6": null, ...} as the version published
    # before made version_signals call .get on None (an AttributeError ending report).
    doc = {
        "versions": {"3.2.6": None, "4.1.1": {"_npmUser": {"name": "qix"}}},
        "time": {"3.2.6": "2018-01-01T00:00:00Z", "4.1.1": "2019-01-01T00:00:00Z"},
    }
    s = signals(doc, "4.1.1")
    assert s.current is not None and s.current.publisher == "qix"
    assert s.previous is None and "3.2.6" in (s.reason("previous") or "")
