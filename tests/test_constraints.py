"""Fixed and tied parameters: the phi <-> theta map, and constrained fits recovering laws."""

from __future__ import annotations

import numpy as np
import pytest

from scaling_cli.errors import UsageError
from scaling_cli.fit.bootstrap import bootstrap
from scaling_cli.fit.constraints import Constraints
from scaling_cli.fit.objective import Data
from scaling_cli.fit.search import fit_law

from .conftest import synthetic_ladder


def test_map_round_trips_and_ties() -> None:
    c = Constraints.make({"E": 1.7}, tie_exponents=True)
    assert c.n_free == 3 and c.free_names() == ("A", "B", "alpha")
    theta = c.to_theta(np.array([[6.0, 7.0, 0.3]]))
    assert theta[0].tolist() == pytest.approx([np.log(1.7), 6.0, 7.0, 0.3, 0.3])
    assert c.to_phi(theta)[0].tolist() == pytest.approx([6.0, 7.0, 0.3])


@pytest.mark.parametrize(
    ("fixed", "tie", "message"),
    [
        ({"gamma": 1.0}, False, "--fix gamma=...: unknown parameter; use one of E, A, B, "
                                "alpha, beta"),
        ({"E": -1.0}, False, "--fix E=-1.0: must be a positive number"),
        ({"alpha": 0.3}, True, "--tie-exponents with one exponent fixed: fix both to the same "
                               "value instead, or drop --tie-exponents"),
        ({"E": 1, "A": 1, "B": 1, "alpha": 1, "beta": 1}, False,
         "every parameter is fixed: nothing left to fit (use --law)"),
    ],
)
def test_bad_constraints(fixed: dict, tie: bool, message: str) -> None:
    with pytest.raises(UsageError) as info:
        Constraints.make(fixed, tie_exponents=tie)
    assert str(info.value) == message


def test_tied_fit_recovers_equal_exponents() -> None:
    n, d, loss = synthetic_ladder(alpha=0.34, beta=0.34)
    res = fit_law(Data.from_arrays(n, d, loss), constraints=Constraints.make(tie_exponents=True))
    assert res.verified
    assert res.law.alpha == res.law.beta
    assert res.law.alpha == pytest.approx(0.34, abs=1e-6)
    assert res.law.as_tuple()[1] == pytest.approx(400, rel=1e-4)  # A


def test_fixed_parameter_is_held_and_others_adapt() -> None:
    n, d, loss = synthetic_ladder(noise=0.005, seed=4)
    data = Data.from_arrays(n, d, loss)
    res = fit_law(data, constraints=Constraints.make({"E": 1.8, "alpha": 0.33}))
    assert res.verified and res.law.E == 1.8 and res.law.alpha == 0.33
    assert res.hessian_eigenvalues.shape == (3,)
    boot = bootstrap(data, res, replicates=40, seed=1)
    assert boot.failed == 0
    assert np.all(boot.theta[:, 0] == np.log(1.8)) and np.all(boot.theta[:, 3] == 0.33)
    assert boot.theta[:, 4].std() > 0


def test_fixing_the_truth_cannot_be_worse_than_free_fit_at_truth() -> None:
    n, d, loss = synthetic_ladder()
    free = fit_law(Data.from_arrays(n, d, loss))
    fixed = fit_law(Data.from_arrays(n, d, loss),
                    constraints=Constraints.make({"alpha": 0.33, "beta": 0.36}))
    assert fixed.verified
    assert fixed.law.as_tuple() == pytest.approx(free.law.as_tuple(), rel=1e-5)
