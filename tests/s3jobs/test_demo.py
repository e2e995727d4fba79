"""`make demo` runs s3jobs.demo; a smaller run of it proves the whole pipeline end to end."""

from tests.helpers import run_cli


def test_demo_runs_the_whole_pipeline_and_verifies_it():
    result = run_cli("s3jobs.demo", "--objects", "200", "--workers", "2", timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "archived 192 + copied 3 + in DLQ indexes 5 = 200  OK" in result.stdout
    assert "demo passed" in result.stdout
    assert ": identical" in result.stdout
