"""Sign-in limits that a stranger cannot turn into a lockout.

Failed sign-ins are limited per client address, per address and account, and by a
global guard against slow guessing from many addresses; nothing is counted per account
alone, so wrong passwords sent for someone's email never stop its owner, with the right
password, from another address. Behind a proxy the address is the one `TRUSTED_PROXIES`
makes trustworthy.
"""

from __future__ import annotations

import logging

import pytest

from app import create_app
from tests.factories import TEST_PASSWORD

LOGIN = "/auth/login"


def _attempt(client, email: str, password: str, address: str, *, forwarded: str | None = None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post(
        LOGIN,
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        headers=headers,
    )


def _signed_in(response) -> bool:
    return response.status_code == 302 and "/auth/" not in response.headers["Location"]


@pytest.mark.promise("accounts")
def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out(app, make_user, tried):
    owner = make_user("qa_lead")
    stranger = app.test_client()
    codes = [
        _attempt(stranger, owner.email, f"guess-{n}", "198.51.100.7").status_code for n in range(15)
    ]
    tried(len(codes))
    assert codes[0] == 401 and codes[-1] == 429
    # The owner, elsewhere, with the right password: signed in.
    response = _attempt(app.test_client(), owner.email, TEST_PASSWORD, "203.0.113.20")
    tried()
    assert _signed_in(response)
    # The stranger's address is still held back, even with the right password.
    response = _attempt(stranger, owner.email, TEST_PASSWORD, "198.51.100.7")
    tried()
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.promise("accounts")
def test_wrong_passwords_from_many_addresses_do_not_lock_the_owner_out(app, make_user, tried):
    owner = make_user("vendor_lead")
    client = app.test_client()
    for n in range(30):  # a few guesses each from 30 addresses, below the global guard
        assert _attempt(client, owner.email, "guess", f"192.0.2.{n + 1}").status_code == 401
        tried()
    response = _attempt(app.test_client(), owner.email, TEST_PASSWORD, "203.0.113.21")
    tried()
    assert _signed_in(response)


@pytest.mark.promise("accounts")
def test_failures_per_address_and_account_are_limited_before_the_address_is(app, make_user, tried):
    """One address gets a few failures per account, and more in all (say, a shared
    office address where several people mistype)."""
    first, second = make_user("qa_lead"), make_user("qa_inspector")
    client = app.test_client()
    address = "198.51.100.30"
    codes = [_attempt(client, first.email, "wrong", address).status_code for _ in range(6)]
    tried(len(codes))
    assert codes == [401] * 5 + [429]
    assert "for this account" in _attempt(client, first.email, "wrong", address).get_data(
        as_text=True
    )
    tried()
    # Another account from the same address is not held back by the first one's failures.
    response = _attempt(app.test_client(), second.email, TEST_PASSWORD, address)
    tried()
    assert _signed_in(response)
    # Nor is the first account from another address.
    response = _attempt(app.test_client(), first.email, TEST_PASSWORD, "198.51.100.31")
    tried()
    assert _signed_in(response)


@pytest.mark.promise("accounts")
def test_successful_sign_ins_do_not_count_as_failures(app, make_user, tried):
    user = make_user("qa_lead")
    for _ in range(6):
        client = app.test_client()
        assert _signed_in(_attempt(client, user.email, TEST_PASSWORD, "198.51.100.40"))
        tried()
    assert _attempt(app.test_client(), user.email, "wrong", "198.51.100.40").status_code == 401
    tried()


@pytest.mark.promise("accounts")
def test_ipv6_addresses_count_per_64_network(app, make_user, tried):
    """One host gets a whole /64: hopping between its addresses gains nothing."""
    users = [make_user("qa_lead") for _ in range(12)]
    client = app.test_client()
    codes = [
        _attempt(client, user.email, "wrong", f"2001:db8:1:2::{n + 1:x}").status_code
        for n, user in enumerate(users)
    ]
    tried(len(codes))
    assert codes[0] == 401 and 429 in codes
    # Another /64 is another address.
    response = _attempt(app.test_client(), users[0].email, TEST_PASSWORD, "2001:db8:1:3::1")
    tried()
    assert _signed_in(response)


@pytest.mark.promise("accounts")
def test_the_global_guard_tightens_every_address_but_lets_the_right_password_in(
    app, make_user, monkeypatch, caplog, tried
):
    """Slow guessing from many addresses: each address fails once or twice, under every
    per-address limit. Past the global count the guard allows each address only a few
    more failures, and the right password from any other address still signs in."""
    monkeypatch.setitem(app.config, "LOGIN_GUARD_TRIGGER", "20 per hour")
    monkeypatch.setitem(app.config, "LOGIN_GUARDED_RATE_LIMIT", "2 per hour")
    users = [make_user("qa_lead") for _ in range(4)]
    client = app.test_client()
    probe = "198.51.100.99"
    # Before the guard: an address may fail 4 times over different accounts.
    codes = [_attempt(client, u.email, "wrong", probe).status_code for u in users]
    tried(len(codes))
    assert codes == [401] * 4
    with caplog.at_level(logging.WARNING):
        for n in range(20):
            user = users[n % len(users)]
            assert _attempt(client, user.email, "wrong", f"192.0.2.{n + 1}").status_code == 401
            tried()
    assert any("sign-in guard" in record.getMessage() for record in caplog.records)
    # With the guard on, a fresh address is refused after 2 failures.
    other = "198.51.100.100"
    codes = [_attempt(client, u.email, "wrong", other).status_code for u in users[:3]]
    tried(len(codes))
    assert codes == [401, 401, 429]
    assert "many failed sign-ins" in _attempt(client, users[3].email, "wrong", other).get_data(
        as_text=True
    )
    tried()
    # The owner with the right password, from an address that has not failed: signed in.
    response = _attempt(app.test_client(), users[0].email, TEST_PASSWORD, "203.0.113.50")
    tried()
    assert _signed_in(response)


@pytest.mark.promise("accounts")
def test_behind_a_proxy_the_forwarded_address_is_limited(
    app, database_url, make_user, monkeypatch, tmp_path, tried
):
    proxied = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "UPLOAD_DIR": str(tmp_path),
            "TRUSTED_PROXIES": 1,
            "JOBS_SWEEP_AT_START": False,
        }
    )
    proxied.test_client_class = app.test_client_class
    owner = make_user("qa_lead")
    client = proxied.test_client()
    balancer = "10.0.0.2"  # every request arrives from the load balancer
    codes = [
        _attempt(client, owner.email, "guess", balancer, forwarded="198.51.100.70").status_code
        for _ in range(12)
    ]
    tried(len(codes))
    assert codes[0] == 401 and codes[-1] == 429
    response = _attempt(
        proxied.test_client(), owner.email, TEST_PASSWORD, balancer, forwarded="203.0.113.70"
    )
    tried()
    assert _signed_in(response)
    # A forged header naming another address: the balancer appends the real one,
    # which is the one counted.
    response = _attempt(
        client,
        owner.email,
        TEST_PASSWORD,
        balancer,
        forwarded="203.0.113.99, 198.51.100.70",
    )
    tried()
    assert response.status_code == 429


def test_sign_in_limits_are_configured_by_environment(monkeypatch):
    from app.config import ConfigError, load_config

    monkeypatch.setenv("LOGIN_GUARD_TRIGGER", "500 per hour")
    assert load_config({"APP_ENV": "testing"})["LOGIN_GUARD_TRIGGER"] == "500 per hour"
    monkeypatch.setenv("LOGIN_ACCOUNT_RATE_LIMIT", "five a minute")
    with pytest.raises(ConfigError, match="LOGIN_ACCOUNT_RATE_LIMIT"):
        load_config({"APP_ENV": "testing"})
