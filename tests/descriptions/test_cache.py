"""The content-addressed description cache: keys, entries, concurrent writers."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from filo.descriptions.cache import DescriptionCache, content_key

FIELDS = {"model": "m", "endpoint_kind": "openai", "category": "bottle", "temperature": 0.0}
KEY = content_key(FIELDS)


def test_content_key_is_canonical_and_sensitive_to_every_field():
    assert content_key(dict(reversed(list(FIELDS.items())))) == KEY
    assert len(KEY) == 64 and int(KEY, 16) >= 0
    for name in FIELDS:
        changed = {**FIELDS, name: "other"}
        assert content_key(changed) != KEY, name


def test_put_then_get_round_trips_and_records_the_fields(tmp_path):
    cache = DescriptionCache(tmp_path)
    assert cache.get(KEY) is None
    path = cache.put(KEY, FIELDS, ("crack", "dent"))
    assert path == tmp_path / KEY[:2] / f"{KEY}.json"
    assert cache.get(KEY) == ("crack", "dent")
    assert '"category": "bottle"' in path.read_text()


def test_unreadable_or_mismatched_entries_count_as_misses(tmp_path, caplog):
    cache = DescriptionCache(tmp_path)
    path = cache.put(KEY, FIELDS, ("crack",))
    path.write_text('{"key": "')
    assert cache.get(KEY) is None
    path.write_text('{"key": "someone-else", "descriptions": ["crack"]}')
    assert cache.get(KEY) is None
    path.write_text(f'{{"key": "{KEY}", "descriptions": []}}')
    assert cache.get(KEY) is None
    assert "regenerated" in caplog.text


def _write_repeatedly(root: str, writer: int, rounds: int) -> int:
    """Overwrite the one shared entry `rounds` times with this writer's content."""
    cache = DescriptionCache(root)
    for round_index in range(rounds):
        cache.put(KEY, {**FIELDS, "writer": writer}, (f"writer {writer} round {round_index}", "crack"))
    return rounds


def _assert_reads_stay_whole(cache: DescriptionCache, stop: threading.Event) -> int:
    """Read the (pre-existing) entry until `stop`; every read must see a complete entry."""
    reads = 0
    while not stop.is_set():
        entry = cache.get(KEY)
        assert entry is not None and len(entry) == 2 and entry[1] == "crack"
        reads += 1
    return reads


def _check_final_state(root) -> None:
    cache = DescriptionCache(root)
    entry = cache.get(KEY)
    assert entry is not None and entry[0].startswith("writer ") and entry[1] == "crack"
    files = [path.name for path in root.rglob("*") if path.is_file()]
    assert files == [f"{KEY}.json"], "temporary files were left behind"


def test_concurrent_thread_writers_never_expose_a_partial_entry(tmp_path):
    _write_repeatedly(str(tmp_path), writer=-1, rounds=1)
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=5) as pool:
        reader = pool.submit(_assert_reads_stay_whole, DescriptionCache(tmp_path), stop)
        writers = [pool.submit(_write_repeatedly, str(tmp_path), writer, 40) for writer in range(4)]
        assert sum(writer.result() for writer in writers) == 160
        stop.set()
        assert reader.result() > 0
    _check_final_state(tmp_path)


def test_concurrent_process_writers_never_expose_a_partial_entry(tmp_path):
    _write_repeatedly(str(tmp_path), writer=-1, rounds=1)
    stop = threading.Event()
    reader_thread_result: list[int] = []
    reader = threading.Thread(
        target=lambda: reader_thread_result.append(_assert_reads_stay_whole(DescriptionCache(tmp_path), stop))
    )
    reader.start()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
        results = list(pool.map(_write_repeatedly, [str(tmp_path)] * 3, range(3), [40] * 3))
    stop.set()
    reader.join()
    assert results == [40, 40, 40]
    assert reader_thread_result and reader_thread_result[0] > 0, "the reader thread failed"
    _check_final_state(tmp_path)
