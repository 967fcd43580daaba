"""Pacing: progressive never overdials, predictive stays under the abandon cap, and against
the simulator's callees predictive keeps operators busier than progressive in the same run."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contact_center.campaigns import simulation
from contact_center.campaigns.pacing import (
    Floor,
    Measured,
    PacingSettings,
    calls_to_place,
    target_ratio,
)
from contact_center.sim.callees import CalleeProfile, Callees

floors = st.builds(
    Floor,
    free=st.integers(0, 40),
    busy_elapsed=st.lists(st.floats(0, 600), max_size=40).map(tuple),
    in_flight=st.integers(0, 60),
)


def measured_with(reach: float, dials: int, abandoned: int) -> Measured:
    m = Measured()
    people = round(dials * reach)
    for i in range(dials):
        m.dial_ended(i < people, 8.0 if i < people else None)
    for _ in range(min(abandoned, people)):
        m.person_abandoned()
    for _ in range(20):
        m.handled(110.0)
    return m


@given(floors)
def test_progressive_places_one_call_per_free_operator_at_most(floor: Floor) -> None:
    placed = calls_to_place(PacingSettings(mode="progressive"), floor, Measured())
    assert placed == max(0, floor.free - floor.in_flight)


@given(floors)
def test_preview_never_dials_by_itself(floor: Floor) -> None:
    assert calls_to_place(PacingSettings(mode="preview"), floor, Measured()) == 0


@settings(max_examples=60, deadline=None)
@given(
    floors,
    st.floats(0.05, 0.9),
    st.integers(0, 400),
    st.integers(0, 30),
    st.floats(0.0, 0.1),
)
def test_predictive_bounds(
    floor: Floor, reach: float, dials: int, abandoned: int, cap: float
) -> None:
    s = PacingSettings(mode="predictive", abandon_cap=cap)
    m = measured_with(reach, dials, abandoned)
    placed = calls_to_place(s, floor, m)
    operators = floor.free + len(floor.busy_elapsed)
    # never fewer than progressive, never beyond the line limit
    assert placed >= max(0, floor.free - floor.in_flight)
    if operators:
        limit = s.max_lines_per_operator * operators
        assert floor.in_flight + placed <= max(floor.in_flight, limit)
    else:
        assert placed == 0


def test_predictive_over_the_cap_falls_back_to_progressive() -> None:
    s = PacingSettings(mode="predictive", abandon_cap=0.03)
    m = measured_with(0.3, 300, abandoned=10)  # 10 of 90 people: 11 % > 3 %
    assert target_ratio(s, m) == 0.0
    floor = Floor(free=2, busy_elapsed=(30.0,) * 20, in_flight=0)
    # with nothing planned to abandon, only calls that free operators surely cover
    assert calls_to_place(s, floor, m) <= 3


def test_predictive_dials_ahead_under_the_cap() -> None:
    s = PacingSettings(mode="predictive", abandon_cap=0.03)
    m = measured_with(0.3, 300, abandoned=0)
    floor = Floor(free=5, busy_elapsed=(30.0,) * 20, in_flight=0)
    assert calls_to_place(s, floor, m) > 5


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="pacing mode"):
        PacingSettings(mode="turbo")
    with pytest.raises(ValueError, match="abandon cap"):
        PacingSettings(abandon_cap=0.9)


def test_callees_are_reproducible_and_follow_their_rates() -> None:
    a, b = Callees(seed=7), Callees(seed=7)
    numbers = [f"+44207{i:06d}" for i in range(3000)]
    first = [a.outcome(n) for n in numbers]
    assert first == [b.outcome(n) for n in reversed(numbers)][::-1]
    humans = sum(o.kind == "human" for o in first) / len(first)
    machines = sum(o.kind == "machine" for o in first) / len(first)
    assert 0.30 < humans < 0.38
    assert 0.13 < machines < 0.19
    statuses = {o.amd_status for o in first if o.kind in ("human", "machine")}
    assert statuses <= {"HUMAN", "MACHINE", "NOTSURE", "HANGUP"}
    # a second attempt at a number is a new draw
    second = [a.outcome(n) for n in numbers[:500]]
    assert sum(x.kind != y.kind for x, y in zip(first, second, strict=False)) > 100


def test_callee_profile_rates_must_add_up() -> None:
    with pytest.raises(ValueError, match="add up"):
        CalleeProfile(human_rate=0.7, machine_rate=0.4)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_predictive_holds_the_cap_and_beats_progressive_occupancy(seed: int) -> None:
    """The benchmark's core, shorter: 20 operators, 20 simulated minutes."""
    progressive = simulation.run("progressive", operators=20, seconds=1200, seed=seed)
    predictive = simulation.run("predictive", operators=20, seconds=1200, seed=seed)
    assert progressive.abandoned == 0
    assert predictive.reached > 100
    assert predictive.abandon_rate <= 0.03
    assert predictive.occupancy > progressive.occupancy
    assert predictive.connected > progressive.connected


@settings(max_examples=60, deadline=None)
@given(
    floors,
    st.floats(0.05, 0.9),
    st.integers(0, 400),
    st.integers(0, 30),
    st.floats(0.0, 0.05),
    st.floats(0.0, 0.05),
)
def test_a_tighter_cap_never_places_more_calls(
    floor: Floor, reach: float, dials: int, abandoned: int, cap_a: float, cap_b: float
) -> None:
    low, high = sorted((cap_a, cap_b))
    m = measured_with(reach, dials, abandoned)
    tight = calls_to_place(PacingSettings(mode="predictive", abandon_cap=low), floor, m)
    loose = calls_to_place(PacingSettings(mode="predictive", abandon_cap=high), floor, m)
    assert tight <= loose
