"""Who may use `filo app` and what it may read: app.roots, the model reference, the token, the exposure check,
and bounded work (429 with Retry-After)."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from prediction.builders import VISA_CATEGORY

from filo.app import access
from filo.app.access import AccessDenied, TokenCheck, check_exposure
from filo.app.limits import Busy, WorkLimit
from filo.app.service import Workspace
from filo.errors import FiloError

CHAMPION = "models:/filo@champion"
TOKEN = "s3cret-token"


def client_of(demo, monkeypatch, **changes):
    """A TestClient of the app over the demo with some settings changed."""
    from fastapi.testclient import TestClient

    from filo.app.server import create_app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo.tracking_uri)
    return TestClient(create_app(dataclasses.replace(demo.settings, **changes)))


def folder_answer(client, folder, **headers):
    return client.get("/api/folder", params={"model": CHAMPION, "category": VISA_CATEGORY, "folder": str(folder)},
                      headers=headers)


def test_a_folder_outside_app_roots_is_refused_without_saying_whether_it_exists(app_client, demo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "copy.png").write_bytes(demo.images[0].read_bytes())
    answers = {
        "existing folder with images": folder_answer(app_client, outside),
        "missing folder": folder_answer(app_client, tmp_path / "no-such-folder"),
        "system folder": folder_answer(app_client, "/etc"),
        "traversal out of a root": folder_answer(app_client, demo.root / "data" / ".." / ".." / outside.name),
    }
    for case, answer in answers.items():
        assert answer.status_code == 403, (case, answer.text)
        error = answer.json()["error"]
        assert "outside app.roots" in error and "--roots" in error, (case, error)
        assert "not a folder" not in error and "no image" not in error.lower(), (case, error)
    shapes = {answer.json()["error"].split("'")[0] + answer.json()["error"].rsplit("'", 1)[1]
              for answer in answers.values()}
    assert len(shapes) == 1, shapes  # the same words for every path; only the echoed path differs
    inside = folder_answer(app_client, demo.root / "data" / "datasets" / "visa" / VISA_CATEGORY / "Data" / "Images")
    assert inside.status_code == 200 and inside.json()["total"] > 0


def test_a_symlink_inside_a_root_does_not_reach_outside_it(demo, monkeypatch, tmp_path):
    outside, root = tmp_path / "secret", tmp_path / "root"
    outside.mkdir()
    root.mkdir()
    (outside / "secret.png").write_bytes(demo.images[0].read_bytes())
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    (root / "photo.png").symlink_to(outside / "secret.png")
    with client_of(demo, monkeypatch, roots=(str(root),)) as client:
        answer = folder_answer(client, root / "link-out")
        assert answer.status_code == 403 and "outside app.roots" in answer.json()["error"]
        (root / "real.png").write_bytes(demo.images[1].read_bytes())
        listed = folder_answer(client, root)
        assert listed.status_code == 200
        assert [row["name"] for row in listed.json()["results"]] == ["real.png"]


def test_a_model_path_must_lie_under_app_roots(demo, monkeypatch, tmp_path):
    malicious = tmp_path / "evil.pt"
    malicious.write_bytes(b"\x80\x04not a checkpoint")
    with client_of(demo, monkeypatch) as client:
        for model in (str(demo.root / "model.pt"), str(malicious), str(tmp_path / "missing.pt"), "/etc/passwd"):
            answer = client.get("/api/folder", params={"model": model, "category": VISA_CATEGORY,
                                                       "folder": str(demo.root / "data")})
            assert answer.status_code == 403, (model, answer.text)
            assert f"model {model!r} is outside app.roots" in answer.json()["error"]
        page = client.get("/predict", params={"model": str(malicious)})
        assert page.status_code == 200 and "outside app.roots" in page.text
    with client_of(demo, monkeypatch, roots=(str(demo.root),)) as client:
        inside = client.post("/api/predict", params={"model": str(demo.root / "model.pt"), "category": VISA_CATEGORY,
                                                     "name": demo.images[-1].name},
                             content=demo.images[-1].read_bytes())
        assert inside.status_code == 200, inside.text


def test_files_outside_app_roots_are_never_published_or_served(demo, tmp_path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(demo.images[0].read_bytes())
    workspace = Workspace(demo.settings)
    try:
        with pytest.raises(AccessDenied, match="outside app.roots"):
            workspace.publish(outside)
        url = workspace.publish(demo.images[0])
        assert workspace.published(url.split("/")[-1]) == demo.images[0].resolve()
        workspace._files["planted"] = outside.resolve()  # a token that somehow points outside still fails
        with pytest.raises(FiloError, match="no such file"):
            workspace.published("planted.png")
    finally:
        workspace.close()


def test_with_a_token_every_request_must_present_it(demo, monkeypatch):
    inside = demo.root / "data" / "datasets" / "visa" / VISA_CATEGORY / "Data" / "Images"
    with client_of(demo, monkeypatch, token=TOKEN) as client:
        refused = folder_answer(client, inside)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert folder_answer(client, inside, Authorization="Bearer wrong-token").status_code == 401
        assert client.post("/api/predict", params={"model": CHAMPION, "category": VISA_CATEGORY},
                           content=demo.images[0].read_bytes()).status_code == 401
        page = client.get("/models", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/models"
        answer = folder_answer(client, inside, Authorization=f"Bearer {TOKEN}")
        assert answer.status_code == 200, answer.text
        photo = answer.json()["results"][0]["photo_url"]
        assert client.get(photo).status_code == 401
        assert client.get(photo, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert folder_answer(client, "/etc", Authorization=f"Bearer {TOKEN}").status_code == 403


def test_the_login_form_sets_a_cookie_that_is_not_the_token(demo, monkeypatch):
    with client_of(demo, monkeypatch, token=TOKEN) as client:
        form = client.get("/login", params={"next": "/models"})
        assert form.status_code == 200 and 'name="token"' in form.text
        wrong = client.post("/login", data={"token": "guess", "next": "/models"}, follow_redirects=False)
        assert wrong.status_code == 401 and "not the token" in wrong.text and not client.cookies
        right = client.post("/login", data={"token": TOKEN, "next": "/models"}, follow_redirects=False)
        assert right.status_code == 303 and right.headers["location"] == "/models"
        cookie = client.cookies[access.COOKIE]
        assert TOKEN not in cookie and "httponly" in right.headers["set-cookie"].lower()
        assert client.get("/models").status_code == 200
        elsewhere = client.post("/login", data={"token": TOKEN, "next": "//evil.example/x"}, follow_redirects=False)
        assert elsewhere.headers["location"] == "/predict"


def test_tokens_are_compared_in_constant_time(monkeypatch):
    calls = []
    real = access.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", spy)
    check = TokenCheck(TOKEN)
    assert check.bearer(f"Bearer {TOKEN}") and not check.bearer("Bearer nope") and not check.bearer(TOKEN)
    assert check.password(TOKEN) and not check.password(TOKEN + "x")
    assert check.cookie(check.cookie_value) and not check.cookie(TOKEN) and not check.cookie(None)
    assert len(calls) == 7


@pytest.mark.parametrize(("host", "token", "anonymous", "allowed"), [
    ("127.0.0.1", None, False, True), ("localhost", None, False, True), ("::1", None, False, True),
    ("0.0.0.0", None, False, False), ("192.168.1.20", None, False, False), ("example.org", None, False, False),
    ("0.0.0.0", TOKEN, False, True), ("0.0.0.0", None, True, True),
])
def test_a_non_loopback_host_needs_a_token_or_allow_anonymous(host, token, anonymous, allowed):
    if allowed:
        check_exposure(host, token, anonymous)
    else:
        with pytest.raises(FiloError, match="--token .* or --allow-anonymous"):
            check_exposure(host, token, anonymous)


def test_filo_app_refuses_to_start_exposed_without_a_token_in_one_line(monkeypatch, capsys):
    import uvicorn

    from filo.cli import main

    started = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets=None: started.append(server.config.host))
    monkeypatch.delenv(access.TOKEN_ENV, raising=False)
    assert main(["app", "--host", "0.0.0.0"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "--host 0.0.0.0" in error and "--allow-anonymous" in error and not started
    assert main(["app", "--host", "0.0.0.0", "--token", TOKEN]) == 0
    monkeypatch.setenv(access.TOKEN_ENV, TOKEN)
    assert main(["app", "--host", "0.0.0.0"]) == 0
    monkeypatch.delenv(access.TOKEN_ENV)
    assert main(["app", "--host", "0.0.0.0", "--allow-anonymous"]) == 0
    assert started == ["0.0.0.0"] * 3


def test_work_beyond_the_queue_is_refused_with_retry_after(app_client, demo):
    limit = app_client.app.state.workspace.limit
    assert (limit.max_concurrent, limit.capacity) == (1, 5)
    held = [limit.admitted() for _ in range(limit.capacity)]
    for place in held:
        place.__enter__()
    try:
        busy = app_client.post("/api/predict", params={"model": CHAMPION, "category": VISA_CATEGORY},
                               content=demo.images[0].read_bytes())
        assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
        assert "app.max_concurrent" in busy.json()["error"]
        assert folder_answer(app_client, demo.root / "data").status_code == 429
    finally:
        for place in held:
            place.__exit__(None, None, None)
    assert app_client.post("/api/predict", params={"model": CHAMPION, "category": VISA_CATEGORY},
                           content=demo.images[0].read_bytes()).status_code == 200


def test_concurrent_uploads_run_one_forward_at_a_time_and_the_overflow_gets_429(demo, monkeypatch):
    running, peak = [0], [0]
    lock = threading.Lock()
    original = Workspace._run

    def slow_run(self, *args):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.3)
            return original(self, *args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(Workspace, "_run", slow_run)
    statuses: list[int] = []
    with client_of(demo, monkeypatch, max_concurrent=1, max_queue=1) as client:
        client.post("/api/predict", params={"model": CHAMPION, "category": VISA_CATEGORY},
                    content=demo.images[0].read_bytes())  # loads the model before the burst

        def upload():
            answer = client.post("/api/predict", params={"model": CHAMPION, "category": VISA_CATEGORY},
                                 content=demo.images[0].read_bytes())
            statuses.append(answer.status_code)

        threads = [threading.Thread(target=upload) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert peak[0] == 1
    assert sorted(set(statuses)) == [200, 429] and len(statuses) == 6
    assert 2 <= statuses.count(200) <= 4


def test_the_work_limit_admits_running_plus_queued_then_refuses():
    limit = WorkLimit(max_concurrent=2, max_queue=1)
    places = [limit.admitted() for _ in range(3)]
    for place in places:
        place.__enter__()
    with pytest.raises(Busy) as refused, limit.admitted():
        pass
    assert refused.value.retry_after_s >= 2
    places[0].__exit__(None, None, None)
    with limit.admitted():
        assert limit.admitted_now == 3
    for place in places[1:]:
        place.__exit__(None, None, None)
    assert limit.admitted_now == 0


def test_a_stopping_app_ends_forwards_at_the_next_batch(demo, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", demo.tracking_uri)
    workspace = Workspace(demo.settings)
    try:
        workspace.predict_upload(CHAMPION, VISA_CATEGORY, "a.png", demo.images[0].read_bytes())
        workspace.stopping.set()
        with pytest.raises(FiloError, match="stopping"):
            workspace.predict_folder(CHAMPION, VISA_CATEGORY, str(demo.root / "data"), 1)
    finally:
        workspace.close()
