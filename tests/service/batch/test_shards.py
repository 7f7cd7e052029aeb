"""Sharing a listing between n tasks: every file exactly once, and clear errors for bad shards."""

from __future__ import annotations

import pytest

from service.batch.shards import Shard, ShardError, parse_shard, shard_from_task
from service.batch_command import main


@pytest.mark.parametrize("count", range(1, 8))
@pytest.mark.parametrize("total", [0, 1, 2, 6, 7, 13, 100, 101])
def test_the_shards_together_hold_every_file_exactly_once(count, total):
    files = [f"gs://bucket/photos/{i:05d}.jpg" for i in range(total)]
    shares = [Shard(index, count).take(files) for index in range(count)]
    assert [path for share in shares for path in share] == files  # in order, none twice
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1


def test_a_shard_is_the_same_whoever_computes_it():
    files = [f"{i}.jpg" for i in range(10)]
    assert Shard(1, 3).take(files) == Shard(1, 3).take(list(files)) == ["3.jpg", "4.jpg",
                                                                         "5.jpg"]


def test_parse_shard():
    assert parse_shard("2/7") == Shard(2, 7)
    assert parse_shard(" 0 / 1 ") == Shard(0, 1)


@pytest.mark.parametrize(("text", "message"), [
    ("0/0", "count must be at least 1"),
    ("3/2", "shard index 3 is outside 0..1"),
    ("2/2", "the last of 2 is 1/2"),
    ("text", "write INDEX/COUNT"),
    ("-1/2", "write INDEX/COUNT"),
    ("1/2/3", "write INDEX/COUNT"),
])
def test_bad_shards_say_what_a_good_one_looks_like(text, message):
    with pytest.raises(ShardError, match=message):
        parse_shard(text)


def test_the_command_refuses_a_bad_shard_with_exit_code_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path), "--shard", "3/2", "--output", str(tmp_path / "out")])
    assert exited.value.code == 2
    assert "argument --shard: shard index 3 is outside 0..1" in capsys.readouterr().err


def test_cloud_run_task_variables_give_the_shard():
    assert shard_from_task(None, None) is None
    assert shard_from_task(4, 5) == Shard(4, 5)
    with pytest.raises(ShardError, match="set together"):
        shard_from_task(4, None)
    with pytest.raises(ShardError, match="outside"):
        shard_from_task(5, 5)
