"""The task registry: plug-ins by name; unknown kinds and foreign modules are refused."""

import pytest

from plexnet.compute.errors import UnknownTask
from plexnet.compute.task import TaskKind, TaskResult, load_task, register, registered


def test_register_and_load():
    @register("test.echo")
    class Echo(TaskKind):
        def run(self, ctx, inputs, params):
            return TaskResult(outputs={}, metrics={"n": len(inputs)})

    assert registered()["test.echo"] == __name__
    assert isinstance(load_task("test.echo"), Echo)
    with pytest.raises(ValueError, match="already registered"):
        register("test.echo")(type("Other", (Echo,), {}))


def test_unknown_task_lists_known_ones():
    with pytest.raises(UnknownTask, match="registered:"):
        load_task("no.such.task")


def test_a_module_that_does_not_register_the_kind_is_not_enough():
    with pytest.raises(UnknownTask, match="unknown task kind"):
        load_task("evil.task", "os")
    with pytest.raises(UnknownTask, match="not installed"):
        load_task("evil.task", "no_such_module_anywhere")


def test_train_supervised_is_found_by_module():
    task = load_task("train.supervised", "plexnet.models.supervised")
    assert task.name == "train.supervised"
