"""The sweep report on what a sweep folder holds while it runs or after jobs failed."""

from __future__ import annotations

import shutil

from ganlab.reporting.sweep_page import write_page


def test_the_report_reads_finished_failed_and_not_yet_started_jobs(checkpoint, tmp_path):
    run = checkpoint.parent.parent  # the shared 5-iteration run (trained in-process: no .hydra of its own)
    sweep = tmp_path / "sweep"
    shutil.copytree(run, sweep / "0_data.batch_size=32")
    failed = sweep / "1_data.batch_size=64"
    shutil.copytree(run, failed)
    (failed / "train.log").write_text("[2026-11-27 08:00:00,000][__main__][ERROR] - training diverged at iteration "
                                      "4: d_loss nan, g_loss nan. No checkpoint was written before it.\n")
    waiting = sweep / "2_data.batch_size=128"  # started: Hydra's record, nothing logged yet
    for job, size in ((sweep / "0_data.batch_size=32", 32), (failed, 64), (waiting, 128)):
        (job / ".hydra").mkdir(parents=True, exist_ok=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- data.batch_size={size}\n")
        (job / ".hydra" / "config.yaml").write_text("trainer:\n  max_steps: 5\n")

    page = write_page(sweep).read_text()
    rows = page.split("</table>")[0].split("<tr>")[2:]
    assert len(rows) == 3
    assert "<td>32</td>" in rows[0] and "<td>finished</td>" in rows[0]
    assert "training diverged at iteration 4" in rows[1]
    assert "running or stopped (0 of 5)" in rows[2], "a job that has logged nothing yet"
    assert page.count("<figure>") == 2, "grids of the jobs that drew one"

    single = write_page(sweep / "0_data.batch_size=32").read_text()  # one run on its own
    assert single.count("<tr>") == 2 and "<td>finished</td>" in single
