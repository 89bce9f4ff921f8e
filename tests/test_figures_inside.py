"""The Look-inside figure builders (figures/hidden, gates, attention, gradients and their shared pieces in
common) on small hand-made arrays: shapes, axis titles, what goes over the wire."""
import numpy as np
import plotly.graph_objects as go
import pytest

from rnnviz.figures import attention, common, gates, gradients, hidden

RNG = np.random.default_rng(0)


def arrays_of(fig: go.Figure):
    """Every array-valued property of every trace, as numpy arrays or lists."""
    for trace in fig.data:
        for key, value in trace.to_plotly_json().items():
            if isinstance(value, (np.ndarray, list, tuple)):
                yield trace.type, key, value
            elif isinstance(value, dict):  # marker.color and the like
                for sub, v in value.items():
                    if isinstance(v, np.ndarray):
                        yield trace.type, f"{key}.{sub}", v


def assert_small_dtypes(fig: go.Figure) -> None:
    """Numbers go out as float32 or smaller numpy arrays; only short lists (a few points) may be plain Python."""
    for kind, key, value in arrays_of(fig):
        if isinstance(value, np.ndarray):
            assert value.dtype.kind in "fiub" and value.dtype.itemsize <= 4, (kind, key, value.dtype)
        elif value and isinstance(value[0], float):
            assert len(value) <= 4, (kind, key, len(value))


def notes(fig: go.Figure) -> str:
    return " ".join(a.text for a in fig.layout.annotations if a.text)


def test_describe_inputs_tokens_and_values():
    assert common.describe_inputs(np.array([0, 2, 1]), ["a", " ", "\n"]) == ["a", "↵", "␣"]
    assert common.describe_inputs(np.array([[0.5, 1.0], [0.25, 0.0]], dtype=np.float32)) == ["0.5, 1", "0.25, 0"]


def test_time_unit_heatmap_shape_labels_and_order():
    h = RNG.uniform(-1, 1, (6, 4)).astype(np.float32)  # (T, H)
    fig = common.time_unit_heatmap(h, inputs=list("abcdef"), order=[2, 0, 1, 3], title="h")
    z = fig.data[0].z
    assert z.shape == (4, 6) and np.allclose(z[0], h[:, 2])
    assert list(fig.data[0].y) == ["u2", "u0", "u1", "u3"]
    assert fig.data[0].x[1] == "1 · b"  # hover shows the step and its input
    assert list(fig.layout.xaxis.ticktext) == list("abcdef")
    assert fig.layout.xaxis.title.text == "input at time step t" and fig.layout.yaxis.title.text == "unit"
    assert (fig.data[0].zmin, fig.data[0].zmax, fig.data[0].zmid) == (-1, 1, 0)
    assert "unit" in fig.data[0].hovertemplate and "%{z" in fig.data[0].hovertemplate
    assert_small_dtypes(fig)
    assert notes(fig) == ""


def test_time_unit_heatmap_downsamples_at_T200_H256_and_says_so():
    h = RNG.uniform(-1, 1, (200, 256)).astype(np.float32)
    fig = common.time_unit_heatmap(h, inputs=[f"{v:.2f}" for v in range(200)])
    assert fig.data[0].z.shape == (common.MAX_UNITS, 200)
    assert f"{common.MAX_UNITS} of 256 units" in notes(fig)
    assert fig.layout.xaxis.title.text == "time step t"  # too many columns for token ticks
    assert_small_dtypes(fig)
    assert len(fig.to_json()) < 200_000


def test_time_unit_heatmap_averages_long_sequences_over_buckets():
    h = np.ones((450, 3), dtype=np.float32)
    h[:, 1] = np.arange(450)
    fig = common.time_unit_heatmap(h, zrange=(0, 1), colorscale=common.SEQUENTIAL)
    z = fig.data[0].z
    assert z.shape == (3, 150)  # buckets of 3 steps
    assert z[1, 0] == pytest.approx(1.0) and z[1, -1] == pytest.approx(448.0)
    assert fig.data[0].x[0] == "0–2" and "averaged over buckets of 3" in notes(fig)


def test_text_heatmap_wraps_at_newlines_and_width():
    tokens = list("ab\ncdefg")
    values = np.linspace(-1, 1, len(tokens)).astype(np.float32)
    fig = hidden.text_heatmap([(tokens, values), (list("xy"), values[:2])], width=3)
    z = fig.data[0].z
    # rows: "ab↵" | "cde" | "fg" | blank | "xy"
    assert z.shape == (5, 3)
    assert fig.data[0].text[0] == ["a", "b", "↵"] and fig.data[0].text[2] == ["f", "g", ""]
    assert np.isnan(z[3]).all() and list(fig.data[0].customdata[1]) == [3, 4, 5]
    assert fig.layout.xaxis.visible is False
    assert_small_dtypes(fig)


def test_text_heatmap_cuts_long_texts():
    tokens = ["x"] * (hidden.MAX_TEXT_CHARS + 50)
    fig = hidden.text_heatmap([(tokens, np.zeros(len(tokens), np.float32))], width=100)
    assert np.isfinite(fig.data[0].z).sum() == hidden.MAX_TEXT_CHARS
    assert f"first {hidden.MAX_TEXT_CHARS}" in notes(fig)


def test_unit_ranking_puts_the_strongest_unit_first():
    fig = hidden.unit_ranking(np.array([0.1, -0.9, 0.5, 0.0]), k=3, feature="inside brackets")
    assert list(fig.data[0].y) == ["u1", "u2", "u0"]
    assert "inside brackets" in fig.layout.xaxis.title.text and list(fig.layout.xaxis.range) == [-1, 1]
    assert_small_dtypes(fig)


def test_pca_trajectories_one_panel_per_step():
    panels = [(0, RNG.normal(size=(3, 10, 5)).astype(np.float32)), (50, RNG.normal(size=(3, 10, 5)).astype(np.float32))]
    fig = hidden.pca_trajectories(panels)
    assert len(fig.data) == 6  # one path per example per panel
    assert len(fig.data[0].x) == 10 and fig.layout.xaxis.title.text.startswith("PC 1")
    assert fig.layout.annotations[0].text.startswith("step 0")
    assert_small_dtypes(fig)


def test_pca_trajectories_thin_long_paths():
    fig = hidden.pca_trajectories([(0, RNG.normal(size=(2, 400, 256)).astype(np.float32))])
    assert len(fig.data[0].x) == 100 and "every 4th" in notes(fig)


def test_pca_trajectory_3d():
    fig = hidden.pca_trajectory_3d(RNG.normal(size=(2, 8, 5)).astype(np.float32), step=7)
    assert fig.data[0].type == "scatter3d" and len(fig.data) == 2
    assert fig.layout.scene.zaxis.title.text.startswith("PC 3")
    assert_small_dtypes(fig)


def test_saturation_scatter_one_panel_per_gate_later_steps_last():
    H = 5
    sat = {g: [(0, np.zeros((2, H), np.float32)), (100, np.full((2, H), 0.3, np.float32))] for g in "ifo"}
    fig = gates.saturation_scatter(sat)
    points = [tr for tr in fig.data if tr.mode == "markers"]
    assert len(points) == 6 and len(points[0].x) == H
    assert points[-1].marker.color == gates.STEP_COLOURS[-1]
    assert fig.layout.xaxis.title.text == "share of time below 0.1"
    assert fig.layout.yaxis.title.text == "share of time above 0.9"
    assert_small_dtypes(fig)


def test_saturation_over_training_two_lines_per_gate():
    fig = gates.saturation_over_training([0, 50, 100], {"f": RNG.uniform(size=(3, 2, 4)), "i": RNG.uniform(size=(3, 2, 4))})
    assert len(fig.data) == 4 and fig.data[0].y.dtype == np.float32
    assert fig.layout.xaxis.title.text == "training step"


def test_gate_and_gradient_panels_and_carry_product():
    T, H = 5, 3
    gate = np.full((T, H), 0.5, np.float32)
    fig = gates.gate_and_gradient(gate, {"‖∂L/∂c_t‖": np.ones(T, np.float32)}, gate_name="f")
    carry = fig.data[-1]
    assert carry.y[-1] == pytest.approx(1) and carry.y[0] == pytest.approx(0.5 ** 4)  # f_1 f_2 f_3 f_4
    assert fig.layout.yaxis2.type == "log" and fig.layout.xaxis2.title.text == "time step t"
    assert list(fig.layout.yaxis.range) == [0, 1]
    assert_small_dtypes(fig)


def test_attention_steps_side_by_side_with_tokens():
    a = np.eye(4, dtype=np.float32)[::-1]  # (T_out, T_in) anti-diagonal
    fig = attention.attention_steps([(0, np.full((4, 4), 0.25, np.float32)), (100, a)],
                                 in_tokens=list("abcd"), out_tokens=list("dcba"))
    assert len(fig.data) == 2 and fig.data[1].z.shape == (4, 4) and fig.data[1].z[0, 3] == 1
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0, 1)
    assert list(fig.layout.xaxis.ticktext) == list("abcd") and fig.layout.xaxis.title.text == "input token"
    assert fig.layout.yaxis.title.text == "output (target token)"
    assert_small_dtypes(fig)


def test_attention_steps_downsample_long_sequences():
    a = np.full((300, 300), 1 / 300, np.float32)
    fig = attention.attention_steps([(0, a)])
    assert fig.data[0].z.shape == (150, 150) and "buckets of 2" in notes(fig)


def test_attention_steps_keep_four_panels_at_T200_within_one_heatmaps_cells():
    a = np.full((200, 200), 1 / 200, np.float32)
    fig = attention.attention_steps([(s, a) for s in (0, 100, 200, 300)])
    assert sum(tr.z.size for tr in fig.data) <= attention.ATTENTION_CELLS
    assert fig.data[0].z.shape == (67, 67) and "buckets of 3" in notes(fig)
    assert len(fig.to_json()) < 200_000


def test_attention_sentences_rows_and_names():
    rows = [(["not", "bad"], np.array([0.8, 0.2], np.float32)), (["good"], np.array([1.0], np.float32))]
    fig = attention.attention_sentences(rows, ["positive 90% ✓", "positive 90% ✓"])  # equal names, two rows
    z = fig.data[0].z
    assert z.shape == (2, 2) and np.isnan(z[1, 1]) and fig.data[0].text[0] == ["not", "bad"]
    assert list(fig.layout.yaxis.ticktext) == ["positive 90% ✓"] * 2 and list(fig.layout.yaxis.tickvals) == [0, 1]
    assert fig.layout.xaxis.title.text == "word position"
    assert_small_dtypes(fig)


def test_decay_bound_is_exact_and_does_not_overflow():
    assert gradients.decay_bound(2.0, 0.5, 4) == pytest.approx(np.log10([0.25, 0.5, 1, 2]))
    assert np.isfinite(gradients.decay_bound(1.0, 10.0, 1000)).all()


def test_gradient_through_time_log_axis_and_bound():
    g = (0.5 ** np.arange(10)[::-1]).astype(np.float32)  # halves towards the start
    fig = gradients.gradient_through_time({"‖∂L/∂h_t‖": g}, rate=0.5, y_range=(-4, 1))
    bound = fig.data[1]
    assert bound.y[-1] == pytest.approx(1) and bound.y[0] == pytest.approx(0.5 ** 9)
    assert fig.layout.yaxis.type == "log" and list(fig.layout.yaxis.range) == [-4, 1]
    assert fig.layout.xaxis.title.text == "time step t"
    assert_small_dtypes(fig)


def test_gradient_through_time_hides_the_bound_beyond_the_axis():
    fig = gradients.gradient_through_time({"g": np.ones(200, np.float32)}, rate=10.0, y_range=(-2, 2))
    assert np.isnan(fig.data[1].y[0]) and fig.data[1].y[-1] == 1


def test_log_range_whole_decades():
    assert common.log_range([np.array([0.003, 0.5, 0.0, np.inf])]) == (-3.0, 0.0)
    assert common.log_range([np.zeros(3)]) is None
    assert common.log_range([np.array([1e-30, 1.0])], decades=5) == (-4.0, 1.0)  # 5 decades below the top


def test_gradient_heatmap_rows_are_probes_and_zeros_sit_on_the_floor():
    norms = np.array([[1e-6, 1e-3, 1.0], [0.0, 1e-2, 1.0]])
    fig = gradients.gradient_heatmap([0, 50], norms)
    z = fig.data[0].z
    assert z.shape == (2, 3) and z[0, 0] == pytest.approx(-6) and z[1, 0] == fig.data[0].zmin
    assert list(fig.data[0].y) == ["0", "50"] and fig.layout.yaxis.title.text == "training step"
    assert_small_dtypes(fig)


def test_gradient_heatmap_downsamples_many_probes_and_steps():
    fig = gradients.gradient_heatmap(np.arange(500) * 10, RNG.uniform(0.1, 1, (500, 1000)))
    assert fig.data[0].z.shape == (167, 200)  # buckets of 3 probes and 5 steps
    assert "averaged over buckets" in notes(fig)
    assert_small_dtypes(fig)


def test_parameter_gradients_marks_clipping_and_the_non_finite_stop():
    steps = np.arange(1, 11)
    norms = {"rnn.weight_hh_l0": np.linspace(0.1, 5, 10), "head.weight": np.full(10, 0.2)}
    total = np.linspace(0.2, 6, 10)
    total[-1] = np.inf
    fig = gradients.parameter_gradients(steps, norms, clipped=total > 1, grad_norm=total, clip=1.0, stopped_at=10)
    names = [tr.name for tr in fig.data]
    assert names[:2] == list(norms) and any(n.startswith("clipped") for n in names)
    assert np.isnan(fig.data[2].y[-1])  # the infinite norm is a gap, not a number
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.title.text == "training step"
    assert [s.y0 for s in fig.layout.shapes if s.type == "line" and s.y0 == s.y1] == [1.0]
    assert any("step 10" in a.text for a in fig.layout.annotations)
    assert_small_dtypes(fig)


def test_parameter_gradients_bucket_long_histories_keeping_spikes():
    steps = np.arange(1, 5001)
    norms = np.full(5000, 0.1)
    norms[1234] = 50.0
    fig = gradients.parameter_gradients(steps, {"rnn.weight_hh_l0": norms})
    assert len(fig.data[0].y) == gradients.PARAM_POINTS and np.nanmax(fig.data[0].y) == 50.0
    assert "5,000 steps" in notes(fig) and fig.layout.yaxis.ticktext == ("0.1", "1", "10")  # 0.1 .. 50: every decade


def test_labels_override_the_english_defaults():
    fig = common.time_unit_heatmap(np.zeros((3, 2), np.float32), labels={"time": "时间步 t", "unit": "单元"})
    assert fig.layout.xaxis.title.text == "时间步 t" and fig.layout.yaxis.title.text == "单元"
