"""runtime.CoreShare: jobs in one process split the usable CPUs between their threads."""

import threading

import torch

from cyclegan_core.engine.runtime import CoreShare, set_thread_team


def test_each_job_gets_its_share_and_the_whole_machine_alone():
    share = CoreShare(cpus=4)
    assert share.share() == 4
    with share.job():
        assert share.share() == 4
        with share.job():
            assert share.share() == 2
            with share.job(), share.job():
                assert share.share() == 1 and torch.get_num_threads() == 1  # never below one thread
        assert share.fit() == 4
    assert share.active == 0
    torch.set_num_threads(2)


def test_a_thread_team_is_the_threads_own():
    """Sizing one thread's team leaves the others' alone (and the process-wide pool untouched)."""
    before = torch.get_num_threads()
    seen = {}

    def job():
        set_thread_team(1)
        seen["inside"] = torch.get_num_threads()

    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
    assert seen["inside"] == 1 and torch.get_num_threads() == before


def test_iterate_fits_before_every_item_and_ends_the_job():
    share = CoreShare(cpus=2)
    teams = []

    def steps():
        for _ in range(3):
            teams.append(torch.get_num_threads())
            yield len(teams)

    with share.job():  # another job (a translation) runs meanwhile: half each
        assert list(share.iterate(steps())) == [1, 2, 3]
    assert teams == [1, 1, 1] and share.active == 0
    events = share.iterate(steps())
    next(events)
    assert teams[-1] == min(2, torch.get_num_threads()) and share.active == 1  # alone: both CPUs
    events.close()
    assert share.active == 0
    torch.set_num_threads(2)
