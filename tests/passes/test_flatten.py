from compiler.ir import NodeKind
from compiler.passes.flatten import Flatten
from tests.irbuild import graph, job, workflow


def names(wf):
    g = wf.graph
    return {g.jobs[i].name: sorted(g.jobs[p].name for p in ps) for i, ps in enumerate(g.parents)}


def test_plain_graph_is_passed_through_untouched():
    wf = workflow(graph([job("a_1"), job("b_1")], [("a_1", "b_1")]))
    out = Flatten().run(wf)
    assert out.graph is wf.source


def test_noop_chain_is_bypassed():
    jobs = [job("a_1"), job("n_1", kind=NodeKind.NOOP), job("n_2", kind=NodeKind.NOOP), job("b_1")]
    wf = workflow(graph(jobs, [("a_1", "n_1"), ("n_1", "n_2"), ("n_2", "b_1")]))
    assert names(Flatten().run(wf)) == {"a_1": [], "b_1": ["a_1"]}


def test_noop_fan_in_fan_out_keeps_every_ordering():
    jobs = [job("a_1"), job("a_2"), job("n_1", kind=NodeKind.NOOP), job("b_1"), job("b_2")]
    edges = [("a_1", "n_1"), ("a_2", "n_1"), ("n_1", "b_1"), ("n_1", "b_2"), ("a_1", "b_1")]
    assert names(Flatten().run(workflow(graph(jobs, edges)))) == {
        "a_1": [],
        "a_2": [],
        "b_1": ["a_1", "a_2"],
        "b_2": ["a_1", "a_2"],
    }


def test_group_edges_attach_to_its_sources_and_sinks():
    inner = graph([job("x_1"), job("y_1"), job("x_2")], [("x_1", "y_1")])
    grp = job("g_1", kind=NodeKind.GROUP, group=inner)
    wf = workflow(graph([job("a_1"), grp, job("b_1")], [("a_1", "g_1"), ("g_1", "b_1")]))
    assert names(Flatten().run(wf)) == {
        "a_1": [],
        "x_1": ["a_1"],
        "y_1": ["x_1"],
        "x_2": ["a_1"],
        "b_1": ["x_2", "y_1"],
    }


def test_nested_groups_and_group_after_group():
    inner = graph([job("x_1")], [])
    mid = graph([job("h_1", kind=NodeKind.GROUP, group=inner), job("y_1")], [("h_1", "y_1")])
    g1 = job("g_1", kind=NodeKind.GROUP, group=mid)
    g2 = job("g_2", kind=NodeKind.GROUP, group=graph([job("z_1")], []))
    out = Flatten().run(workflow(graph([g1, g2], [("g_1", "g_2")])))
    assert names(out) == {"x_1": [], "y_1": ["x_1"], "z_1": ["y_1"]}
    assert out.graph.label_order is None  # rebuilt: the order pass derives labels


def test_empty_group_still_orders_its_neighbours():
    grp = job("g_1", kind=NodeKind.GROUP, group=graph([], []))
    wf = workflow(graph([job("a_1"), grp, job("b_1")], [("a_1", "g_1"), ("g_1", "b_1")]))
    assert names(Flatten().run(wf)) == {"a_1": [], "b_1": ["a_1"]}


def test_noop_sibling_waiting_on_the_stack_is_not_a_cycle():
    # a <- B <- C, and D depends on both B and C: resolving D visits B and C; C needs B,
    # which is queued but not on C's path. An earlier walk took that for a cycle.
    g = graph(
        [
            job("a", "isr"),
            job("B", "noop", kind=NodeKind.NOOP),
            job("C", "noop", kind=NodeKind.NOOP),
            job("D", "noop", kind=NodeKind.NOOP),
            job("e", "calib"),
        ],
        [("a", "B"), ("B", "C"), ("B", "D"), ("C", "D"), ("D", "e")],
    )
    assert names(Flatten().run(workflow(g))) == {"a": [], "e": ["a"]}
