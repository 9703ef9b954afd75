import math

import pytest
import torch

from model import LeNet5, count_parameters, pixel_stats, to_model_input


def test_output_and_intermediate_shapes():
    model = LeNet5()
    x = torch.randn(3, 1, 32, 32)
    shapes = []
    h = x
    for layer in model.features:
        h = layer(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(6, 32, 32), (6, 32, 32), (6, 16, 16), (16, 12, 12), (16, 12, 12), (16, 6, 6)]
    assert model(x).shape == (3, 10)


def test_parameter_count_is_the_classic_82826():
    assert count_parameters(LeNet5()) == 82_826


def test_initialisation_he_for_relu_layers_xavier_for_output_zero_biases():
    torch.manual_seed(0)
    model = LeNet5()
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 5
    for layer in layers:
        assert torch.count_nonzero(layer.bias) == 0
    for layer in layers[1:-1]:  # enough weights for the spread to be measured well
        fan_in = layer.weight[0].numel()
        assert layer.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.15)
    out = layers[-1].weight
    bound = math.sqrt(6 / (out.shape[0] + out.shape[1]))
    assert out.abs().max().item() <= bound
    assert out.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.15)


def test_model_input_pads_28_to_32_without_resizing():
    digits = torch.zeros(2, 28, 28, dtype=torch.uint8)
    digits[:, 10, 5] = 255
    x = to_model_input(digits, mean=0.5, std=0.25)
    assert x.shape == (2, 1, 32, 32)
    assert x[0, 0, 12, 7].item() == pytest.approx((1 - 0.5) / 0.25)
    assert x[0, 0, 0, 0].item() == pytest.approx(-0.5 / 0.25)
    assert digits.dtype == torch.uint8 and digits[0, 10, 5] == 255  # the input is left alone


def test_pixel_stats_match_float_computation():
    images = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8)
    mean, std = pixel_stats(images)
    values = images.double() / 255
    assert mean == pytest.approx(values.mean().item(), abs=1e-9)
    assert std == pytest.approx(values.std(unbiased=False).item(), abs=1e-9)


def test_printed_digits_are_mnist_like_balanced_and_seeded():
    import numpy as np

    from printed_digits import METER_SCENES_PER_GLYPH, printed_digits

    images, labels = printed_digits(1, seed=3, fonts=("DejaVuSans", "cmr10"))
    scenes = 2 * (1 + METER_SCENES_PER_GLYPH)  # and a meter window read whole is a second picture
    assert images.shape[1:] == (28, 28) and images.dtype == np.uint8
    assert all(scenes <= n <= scenes + 2 * METER_SCENES_PER_GLYPH for n in np.bincount(labels, minlength=10))
    for image in images:
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20  # MNIST's digit box
        assert image[0].max() == 0 and image[:, -1].max() == 0  # a black frame around it
    again, _ = printed_digits(1, seed=3, fonts=("DejaVuSans", "cmr10"))
    other, _ = printed_digits(1, seed=4, fonts=("DejaVuSans", "cmr10"))
    assert np.array_equal(images, again) and not np.array_equal(images, other)
