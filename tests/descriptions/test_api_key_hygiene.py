"""The API key never appears in files, logs, terminal output or error messages."""

from __future__ import annotations

import logging

from fake_chat_server import chat_reply, error_reply

from filo.cli import main


def test_api_key_never_leaks(tmp_path, chat_server, api_key, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    echo_key = f"invalid request, you sent Authorization: Bearer {api_key}"
    scenarios = {
        "works": [chat_reply('["crack"]')],
        "invalid_reply": [chat_reply("not json")],
        "unauthorized": [error_reply(401, echo_key)],
        "bad_request_echoing_the_key": [error_reply(400, echo_key)],
        "server_error_echoing_the_key": [error_reply(500, echo_key)],
    }
    exit_codes = {}
    for name, script in scenarios.items():
        chat_server.script = script
        chat_server.requests.clear()
        exit_codes[name] = main(
            [
                "-v",
                "describe",
                "--category",
                f"widget {name}",
                "--sources",
                "cache,llm",
                "--cache-dir",
                str(tmp_path / "cache"),
                "--llm-model",
                "m",
                "--llm-base-url",
                chat_server.base_url,
                "--llm-max-attempts",
                "2",
                "--llm-request-timeout-s",
                "2",
            ]
        )
    assert exit_codes == {name: 0 if name == "works" else 2 for name in scenarios}
    assert chat_server.authorization and set(chat_server.authorization) == {f"Bearer {api_key}"}

    captured = capsys.readouterr()
    written = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    assert any("rejected" in path.parts for path in written), "the scenarios should have written files"
    assert "HTTP 400" in captured.err and "***" in captured.err
    assert api_key not in captured.out + captured.err
    assert api_key not in caplog.text
    assert [path for path, data in written.items() if api_key.encode() in data] == []
