"""The reference Euler schedule of model spec §7."""

import pytest
import torch

from diffsensei_core.errors import InputShapeError
from diffsensei_core.model.schedule import leading_timesteps, reference_sigmas

SPEC_30 = [11.4769, 9.5436, 8.0043, 6.7684, 5.7678, 4.9510, 4.2790, 3.7216, 3.2556, 2.8629, 2.5295, 2.2441,
           1.9980, 1.7841, 1.5968, 1.4316, 1.2846, 1.1530, 1.0342, 0.9261, 0.8270, 0.7353, 0.6499, 0.5693,
           0.4924, 0.4179, 0.3439, 0.2677, 0.1822, 0.0413, 0.0]


def test_thirty_steps_match_the_published_list():
    timesteps = leading_timesteps(30)
    assert timesteps[:3].tolist() == [958, 925, 892] and timesteps[-2:].tolist() == [34, 1]
    torch.testing.assert_close(reference_sigmas(30), torch.tensor(SPEC_30), atol=6e-5, rtol=0)


def test_initial_noise_sigma():
    sigma0 = reference_sigmas(30)[0].item()
    assert abs((sigma0**2 + 1) ** 0.5 - 11.5203) < 1e-3


def test_steps_are_checked():
    with pytest.raises(InputShapeError):
        reference_sigmas(0)
