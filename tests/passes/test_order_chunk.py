from hypothesis import given
from hypothesis import strategies as st

from compiler.ir import NodeKind
from compiler.passes.chunk import Chunk, chunk_sizes
from compiler.passes.flatten import Flatten
from compiler.passes.order import Order
from tests.irbuild import graph, job, workflow


def blocks(wf):
    return [(b.label, [wf.graph.jobs[j].name for j in b.jobs]) for b in wf.labels]


def test_source_order_is_kept():
    g = graph([job("b_1"), job("a_1"), job("b_2")], [("b_1", "a_1")])
    wf = Order().run(Flatten().run(workflow(g)))
    assert blocks(wf) == [("b", ["b_1", "b_2"]), ("a", ["a_1"])]


def test_noop_cycle_between_labels_splits_into_waves():
    # a_1 -> b_1 -> noop -> a_2 -> b_2: labels a and b depend on each other.
    jobs = [job("a_1"), job("b_1"), job("n_1", kind=NodeKind.NOOP), job("a_2"), job("b_2")]
    edges = [("a_1", "b_1"), ("b_1", "n_1"), ("n_1", "a_2"), ("a_2", "b_2")]
    wf = Chunk().run(Order().run(Flatten().run(workflow(graph(jobs, edges)))))
    assert blocks(wf) == [("a", ["a_1"]), ("b", ["b_1"]), ("a", ["a_2"]), ("b", ["b_2"])]
    assert [t.name for t in wf.tasks] == ["wf_01_a_01", "wf_02_b_01", "wf_03_a_02", "wf_04_b_02"]
    assert [t.first_order_id for t in wf.tasks] == [0, 0, 1, 1]


def test_chunk_sizes_match_reference_examples():
    assert chunk_sizes(10, 4) == [4, 4, 2]
    assert chunk_sizes(9, 4) == [3, 3, 3]
    assert chunk_sizes(7, 10) == [7]
    assert chunk_sizes(0, 3) == []


def reference_split(n: int, m: int) -> list[int]:
    """The reference's loop, restated: a new chunk when the count passes ceil(n/ceil(n/m))."""
    per = -(-n // -(-n // m))
    sizes: list[int] = []
    count = 0
    for _ in range(n):
        count += 1
        if count > per or not sizes:
            count = 1
            sizes.append(0)
        sizes[-1] += 1
    return sizes


@given(st.integers(1, 3000), st.integers(1, 500))
def test_chunk_sizes_equal_reference_loop(n, m):
    sizes = chunk_sizes(n, m)
    assert sizes == reference_split(n, m)
    assert sum(sizes) == n and max(sizes) <= m
    assert len(set(sizes[:-1])) <= 1


def test_tasks_numbered_across_labels():
    jobs = [job(f"a_{i}") for i in range(5)] + [job(f"b_{i}") for i in range(3)]
    wf = Chunk().run(Order().run(Flatten().run(workflow(graph(jobs, []), max_jobs=2))))
    assert [(t.name, len(t.jobs)) for t in wf.tasks] == [
        ("wf_01_a_01", 2),
        ("wf_02_a_02", 2),
        ("wf_03_a_03", 1),
        ("wf_04_b_01", 2),
        ("wf_05_b_02", 1),
    ]
