from maya.job_timings import rule_times

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_rule_times_sum_jobs_per_rule_slowest_first(tmp_path):
    (tmp_path / "index_shard/demo/hi").mkdir(parents=True)
    (tmp_path / "index_shard/demo/hi/a.tsv").write_text(HEADER + "2.5\t0:00:02\t120.5\t1\t1\t1\t0\t0\t50\t2.0\n")
    (tmp_path / "index_shard/demo/hi/b.tsv").write_text(HEADER + "1.5\t0:00:01\t300.0\t1\t1\t1\t0\t0\t50\t1.0\n")
    (tmp_path / "train_stage1.tsv").write_text(HEADER + "9.0\t0:00:09\t-\t-\t-\t-\t-\t-\t-\t-\n")
    (tmp_path / "qc_summary.tsv").write_bytes(b"\xff\xfe not a tsv")
    times = {t.rule: t for t in rule_times(tmp_path)}
    assert [t.rule for t in rule_times(tmp_path)][:2] == ["train_stage1", "index_shard"]
    shard = times["index_shard"]
    assert (shard.jobs, shard.total_s, shard.max_s, shard.cpu_s, shard.max_rss_mb) == (2, 4.0, 2.5, 3.0, 300.0)
    assert times["train_stage1"].max_rss_mb == 0.0  # "-": not measured, not a crash
    assert "qc_summary" not in times  # unreadable: left out with a warning


def test_no_benchmark_folder_is_an_empty_table(tmp_path):
    assert rule_times(tmp_path / "absent") == []
