from __future__ import annotations

from pathlib import Path

import pytest

from cost_mcp.config import key_origin, load_settings, load_settings_leniently, mask_secret
from cost_mcp.core_settings import load_core_settings
from cost_mcp.errors import SettingsError


def test_defaults_and_overrides(tmp_path: Path) -> None:
    s = load_settings(
        {
            "COST_MCP_DB": str(tmp_path / "x.db"),
            "COST_MCP_TIMEZONE": "Europe/Paris",
            "COST_MCP_WEEK_START": "Sunday",
            "COST_MCP_OPENAI_BASE_URL": "http://127.0.0.1:9/",
            "OPENAI_ADMIN_KEY": "sk-admin-0123456789abcdef",
        },
        env_file=tmp_path / "absent",
    )
    assert s.db == tmp_path / "x.db"
    assert s.timezone == "Europe/Paris"
    assert s.week_start == "sunday"
    assert s.provider_base_url("openai") == "http://127.0.0.1:9"
    assert s.provider_base_url("anthropic") == "https://api.anthropic.com"
    key = s.provider_key("openai")
    assert key is not None and key.get_secret_value() == "sk-admin-0123456789abcdef"
    assert "0123456789" not in repr(s) and "0123456789" not in str(s.model_dump())
    assert s.provider_key("anthropic") is None


def test_a_ledger_url_s_password_is_in_no_repr_of_the_settings(tmp_path: Path) -> None:
    """QA (h-qasec4): Settings kept a PostgreSQL ledger URL out of its repr, but the status line's and
    hooks' CoreSettings showed it whole, password included, in any message or log that quoted it."""
    env = {"COST_MCP_DB": "postgresql://cost:S3cretPw@db.example/ledger", "COST_MCP_TIMEZONE": "UTC"}
    core = load_core_settings(env, env_file=tmp_path / "absent")
    full = load_settings(env, env_file=tmp_path / "absent")
    assert core.db == full.db == "postgresql://cost:S3cretPw@db.example/ledger"
    for shown in (repr(core), str(core), repr(full), str(full), repr(core.full())):
        assert "S3cretPw" not in shown, shown
    assert "timezone='UTC'" in repr(core)


def test_a_ledger_url_s_password_is_in_no_dump_of_the_settings(tmp_path: Path) -> None:
    """QA (h-qasec5): ``Settings.model_dump()`` (and its JSON) held COST_MCP_DB whole, so a
    PostgreSQL ledger's password was in whatever logged or returned the dump."""
    env = {"COST_MCP_DB": "postgresql://cost:S3cretPw@db.example/ledger", "COST_MCP_TIMEZONE": "UTC"}
    full = load_settings(env, env_file=tmp_path / "absent")
    for shown in (str(full.model_dump()), full.model_dump_json(), str(full.model_dump(mode="json"))):
        assert "S3cretPw" not in shown, shown
    assert full.model_dump()["timezone"] == "UTC"
    # What replaces the dump to make a variant keeps the ledger, and the provider values beside it.
    copied = full.model_copy(update={"timezone": "Europe/Paris"})
    assert copied.db == full.db and copied.timezone == "Europe/Paris"


def test_env_file_fills_what_the_environment_leaves_unset(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text(
        '# keys\nexport ANTHROPIC_ADMIN_KEY="sk-ant-admin01-from-file-xyz"\nCOST_MCP_TIMEZONE=Asia/Tokyo\n'
    )
    s = load_settings({"COST_MCP_TIMEZONE": "UTC"}, env_file=env_file)
    key = s.provider_key("anthropic")
    assert key is not None and key.get_secret_value() == "sk-ant-admin01-from-file-xyz"
    assert s.timezone == "UTC"  # the environment wins
    assert key_origin("ANTHROPIC_ADMIN_KEY", {}, env_file) == str(env_file)
    assert key_origin("ANTHROPIC_ADMIN_KEY", {"ANTHROPIC_ADMIN_KEY": "x"}, env_file) == "environment"
    assert key_origin("OPENAI_ADMIN_KEY", {}, env_file) == "not set"


def test_an_env_file_with_bytes_that_are_not_text_still_sets_its_other_lines(tmp_path: Path) -> None:
    """It stopped every command with a UnicodeDecodeError; now its text lines apply and doctor names
    the file (with a UTF-8 byte-order mark, as some editors save, it is simply text)."""
    from cost_mcp.doctor import env_file_problems

    env_file = tmp_path / "env"
    env_file.write_bytes(b"\xef\xbb\xbfCOST_MCP_TIMEZONE=Asia/Tokyo\nCOST_MCP_WEEK_START=sunday\nX=\xff1\n")
    s = load_settings({}, env_file=env_file)
    assert (s.timezone, s.week_start) == ("Asia/Tokyo", "sunday")
    assert env_file_problems(env_file) == [
        f"{env_file} is not UTF-8 text (byte 61): a value there is not what was written; "
        "save the file as UTF-8"
    ]
    env_file.write_bytes(b"\xef\xbb\xbfCOST_MCP_TIMEZONE=Asia/Tokyo\n")
    assert env_file_problems(env_file) == []


def test_bad_timezone_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^setting COST_MCP_TIMEZONE='Mars/Olympus' .*'Europe/Paris'"):
        load_settings({"COST_MCP_TIMEZONE": "Mars/Olympus"}, env_file=tmp_path / "absent")


def test_unusable_values_fall_back_to_defaults_one_line_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Also in os.environ: pydantic-settings reads the environment itself, so the fallback must win.
    monkeypatch.setenv("COST_MCP_TIMEZONE", "Paris")
    environ = {
        "COST_MCP_TIMEZONE": "Paris",
        "COST_MCP_SYNC_TTL_SECONDS": "-1",
        "COST_MCP_WEEK_START": "sunday",
    }
    settings, problems = load_settings_leniently(environ, env_file=tmp_path / "absent")
    assert settings.sync_ttl_seconds == 900
    assert settings.timezone != "Paris"
    assert settings.week_start == "sunday"  # the good values are kept
    named = [p.split("=")[0] for p in problems]
    assert named == ["setting COST_MCP_TIMEZONE", "setting COST_MCP_SYNC_TTL_SECONDS"]
    assert all("\n" not in p and p.endswith("until it is fixed") for p in problems)


def test_claude_roots_from_comma_separated_variable(tmp_path: Path) -> None:
    s = load_settings({"CLAUDE_CONFIG_DIR": f"{tmp_path}/a, {tmp_path}/b ,"}, env_file=tmp_path / "absent")
    assert s.claude_roots() == [tmp_path / "a", tmp_path / "b"]


def test_mask_secret_shows_neither_the_middle_nor_short_keys() -> None:
    from pydantic import SecretStr

    masked = mask_secret(SecretStr("sk-admin-SECRETMIDDLE-9xYz"))
    assert "SECRETMIDDLE" not in masked and masked.startswith("sk-") and "9xYz" in masked
    assert mask_secret(SecretStr("short")) == "*****"


def test_env_file_values_lose_their_quotes_and_comments_as_dotenv_reads_them(tmp_path: Path) -> None:
    # A comment after the value is common in .env files; taken into the key, it made every sync
    # answer 401 with advice about the key's type.
    env_file = tmp_path / "env"
    env_file.write_text(
        'export OPENAI_ADMIN_KEY="sk-admin-abc"  # the org\'s admin key\n'
        "ANTHROPIC_ADMIN_KEY='sk-ant-admin01-def' # admin\n"
        "OPENROUTER_API_KEY = sk-or-v1-ghi   # management key\n"
        "GROQ_API_KEY=gsk_#not-a-comment\n"
        "CURSOR_ADMIN_API_KEY='key_it's'\n"
        'COST_MCP_WEBHOOKS=\'{"ops": "https://hooks.example.com/x#y"}\'\n',
        encoding="utf-8",
    )
    s = load_settings({"COST_MCP_TIMEZONE": "UTC"}, env_file=env_file)
    keys = {p: s.provider_key(p) for p in ("openai", "anthropic", "openrouter", "groq", "cursor")}
    assert {p: k.get_secret_value() if k else None for p, k in keys.items()} == {
        "openai": "sk-admin-abc",
        "anthropic": "sk-ant-admin01-def",
        "openrouter": "sk-or-v1-ghi",
        "groq": "gsk_#not-a-comment",
        "cursor": "key_it's",
    }
    assert s.webhook_urls() == {"ops": "https://hooks.example.com/x#y"}


@pytest.mark.parametrize(
    "tz", [":/usr/share/zoneinfo/Asia/Tokyo", "/usr/share/zoneinfo/Asia/Tokyo", ":Asia/Tokyo"]
)
def test_tz_naming_a_zone_file_gives_its_zone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tz: str
) -> None:
    """TZ as the C library reads it, a zoneinfo file's path: "today" is Tokyo's day, not the
    machine's default zone's (it used to fall back silently)."""
    monkeypatch.delenv("COST_MCP_TIMEZONE", raising=False)
    monkeypatch.setenv("TZ", tz)
    settings = load_settings({"COST_MCP_DB": str(tmp_path / "c.db")}, env_file=tmp_path / "absent")
    assert settings.timezone == "Asia/Tokyo"


def test_a_blank_setting_is_not_set_and_a_blank_secret_keeps_its_meaning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`claude mcp add -e COST_MCP_TIMEZONE=` or an env file's bare line gave '' as the value: a
    warning on every command, and a ledger and price file at '.'. Blank is unset (the env file then
    applies), the same in the status line's settings; a blank secret stays what it was."""
    from cost_mcp.core_settings import load_core_settings

    env_file = tmp_path / "env"
    env_file.write_text("COST_MCP_TIMEZONE=Asia/Tokyo\nCOST_MCP_SYNC_TTL_SECONDS=\nCOST_MCP_WEEK_START= \n")
    blank = {
        "COST_MCP_TIMEZONE": "",
        "COST_MCP_DB": "",
        "COST_MCP_PRICES_FILE": " ",
        "COST_MCP_VSCODE_USER_DIRS": "",
        "COST_MCP_COST_MODE": "",
        "COST_MCP_TEAM_TOKEN": "",
    }
    for name, value in blank.items():  # pydantic-settings reads os.environ too
        monkeypatch.setenv(name, value)
    settings, problems = load_settings_leniently(blank, env_file=env_file)
    assert problems == []
    assert settings.timezone == "Asia/Tokyo"
    assert settings.db == load_settings({}, env_file=tmp_path / "absent").db != Path()
    assert settings.prices_file != Path()
    assert settings.vscode_user_dirs is None  # every editor's folder, not none
    assert (settings.sync_ttl_seconds, settings.week_start, settings.cost_mode) == (900, "monday", "auto")
    assert settings.team_token is not None and settings.team_token.get_secret_value() == ""
    core = load_core_settings(blank, env_file=env_file)
    assert core.unusable == ()
    assert (core.timezone, core.db, core.prices_file) == ("Asia/Tokyo", settings.db, settings.prices_file)
