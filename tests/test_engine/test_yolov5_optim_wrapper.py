"""(d) YOLOv5OptimWrapper: fp32 on a CPU (AMP on a GPU), trains, saves and
loads either kind of state; YOLOv5's accumulation (step iterations, summed
losses)."""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from posekit_plugins.engine import YOLOv5OptimWrapper
from posekit_plugins.engine.optim_wrappers.yolov5_optim_wrapper import amp_available

from ._reference import ref_schedule, ref_steps


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4),
                         nn.SiLU(), nn.Conv2d(4, 2, 1))


def build(model, amp='auto', per_gpu=64, **kwargs):
    return build_optim_wrapper(model, dict(
        type='YOLOv5OptimWrapper', amp=amp,
        constructor='YOLOv5OptimWrapperConstructor',
        optimizer=dict(type='SGD', lr=0.01, momentum=0.937, weight_decay=5e-4,
                       nesterov=True),
        paramwise_cfg=dict(batch_size_per_gpu=per_gpu, world_size=1),
        **kwargs))


def loss_of(model, seed=0):
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    return model(x).square().mean()


def test_fp32_on_cpu_trains_a_step():
    model = net()
    wrapper = build(model)
    assert isinstance(wrapper, YOLOv5OptimWrapper)
    assert wrapper.amp_enabled == amp_available()
    if wrapper.amp_enabled:
        pytest.skip('a GPU is present: the CPU fallback is not in use')
    assert wrapper.loss_scaler is None
    before = [p.detach().clone() for p in model.parameters()]
    with wrapper.optim_context(model):
        loss = loss_of(model)
    assert loss.dtype == torch.float32
    wrapper.initialize_count_status(model, 0, 10)
    wrapper.update_params(loss)
    assert wrapper.stepped and wrapper.num_steps == 1
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert 'loss_scaler' not in wrapper.state_dict()


def test_amp_true_needs_a_gpu():
    if amp_available():
        pytest.skip('a GPU is present')
    with pytest.raises(AssertionError):
        build(net(), amp=True)


def test_state_dict_loads_across_amp_and_fp32():
    model = net()
    wrapper = build(model, amp=False)
    wrapper.initialize_count_status(model, 0, 10)
    wrapper.update_params(loss_of(model))
    state = wrapper.state_dict()
    # a checkpoint written by an AMP run (GPU) resumed by an fp32 run (CPU)
    gpu_state = dict(state, loss_scaler={'scale': 1024.0, 'growth_factor': 2.0,
                                         'backoff_factor': 0.5,
                                         'growth_interval': 2000,
                                         '_growth_tracker': 3})
    other = build(net(), amp=False)
    other.load_state_dict(gpu_state)
    a, b = other.optimizer.state_dict(), wrapper.optimizer.state_dict()
    assert a['param_groups'] == b['param_groups']
    for k, v in b['state'].items():
        assert torch.equal(a['state'][k]['momentum_buffer'],
                           v['momentum_buffer'])
    if amp_available():  # and an fp32 checkpoint resumed with AMP
        amp_wrapper = build(net(), amp=True)
        amp_wrapper.load_state_dict(state)
        assert 'loss_scaler' in amp_wrapper.state_dict()


@pytest.mark.parametrize('rule', ['modulo', 'since_last_step'])
def test_accumulation_steps_where_the_original_does(rule):
    """Batch 16 (accumulate 4 after a ramp over the 45-iteration warm-up):
    the optimizer steps at the original's iterations, and the gradient of
    a step is the sum of its iterations' gradients (no division)."""
    per_gpu, n = 16, 80
    ref = ref_schedule(8, 10, per_gpu, min_warmup_iters=45)
    accumulates = [ref[ni][2] for ni in range(n)]
    expected = ref_steps(accumulates, rule)
    assert 4 < len(expected) < n  # some accumulation happened

    model = net()
    wrapper = build(model, amp=False, per_gpu=per_gpu, accumulate_rule=rule)
    wrapper.initialize_count_status(model, 0, n)
    stepped, grads = [], torch.zeros_like(model[0].weight)
    opt_step = wrapper.optimizer.step
    seen_grads = []

    def spy_step(*args, **kwargs):
        seen_grads.append(model[0].weight.grad.clone())
        return opt_step(*args, **kwargs)

    wrapper.optimizer.step = spy_step
    for ni in range(n):
        wrapper.accumulate = accumulates[ni]  # YOLOv5ScheduleHook's job
        loss = loss_of(model, seed=ni)
        g, = torch.autograd.grad(loss, model[0].weight, retain_graph=True)
        grads += g
        wrapper.update_params(loss)
        if wrapper.stepped:
            stepped.append(ni)
            torch.testing.assert_close(seen_grads[-1], grads)
            grads = torch.zeros_like(grads)
    assert stepped == expected
    assert wrapper.num_steps == len(expected)
