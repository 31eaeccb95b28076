"""Eager-mode quantization workflow (torch.ao.quantization.quantize): propagate_qconfig_,
prepare (observers for post-training calibration), prepare_qat (QAT modules + fake quant),
add_quant_dequant, quantize, quantize_qat, swap_module.

Observers are attached as `activation_post_process` children called by a forward hook, as torch
does. graphc.nn.Module has no hook registry, so this module keeps torch's `_forward_hooks` /
`_forward_pre_hooks` dicts on the module itself and routes its `forward` through them (a
callable object on the instance: deepcopy and pickle rebind it to the copy). The hooks run inside
the forward, so `graphc.compile` traces the observers and fake quants with the model: their
statistics are buffers, i.e. graph state updated by the compiled step.
"""
from __future__ import annotations

import copy
import importlib
import inspect
import itertools
import warnings
from collections import OrderedDict

from ...errors import GraphcError, NotSupportedError
from ...nn import Dropout
from ...nn.module import Module, Sequential
from ..nn.intrinsic import _FusedModule
from .quantization_mappings import (_get_special_act_post_process,
                                    _has_special_act_post_process,
                                    get_default_qat_module_mappings,
                                    get_default_qconfig_propagation_list,
                                    get_default_static_quant_module_mappings,
                                    get_default_static_quant_reference_module_mappings,
                                    no_observer_set)
from .dynamic import quantize_dynamic  # noqa: F401  (torch has it in quantize.py too)
from .stubs import DeQuantStub, QuantWrapper

__all__ = ["get_default_custom_config_dict", "propagate_qconfig_", "add_quant_dequant",
           "prepare", "quantize", "prepare_qat", "quantize_qat", "convert", "swap_module",
           "quantize_dynamic"]


# ---- forward hooks --------------------------------------------------------------------------

class RemovableHandle:
    """What register_forward_hook returns: `remove()` takes the hook out again."""

    _next_id = itertools.count()

    def __init__(self, hooks: OrderedDict):
        self.hooks_dict_ref = hooks
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        """Unregister the hook."""
        self.hooks_dict_ref.pop(self.id, None)


_NATIVE_HOOKS = hasattr(Module, "register_forward_hook")


class _HookedForward:
    """What a hooked module gets as its `forward`: pre hooks, the class's forward, post hooks
    (torch's Module._call_impl order). An object, not a closure, so that deepcopy and pickle
    rebind it to the copied module; it reports the class forward's signature, so graphc.compile
    binds arguments as before."""

    __slots__ = ("_module",)

    def __init__(self, module: Module):
        self._module = module

    def __call__(self, *args, **kwargs):
        m = self._module
        d = m.__dict__
        for hook in list(d["_forward_pre_hooks"].values()):
            r = hook(m, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = type(m).forward(m, *args, **kwargs)
        for hook in list(d["_forward_hooks"].values()):
            r = hook(m, args, out)
            if r is not None:
                out = r
        return out

    def __reduce__(self):
        return (_HookedForward, (self._module,))

    @property
    def __signature__(self):
        return inspect.signature(type(self._module).forward.__get__(self._module))

    @property
    def __name__(self):
        return "forward"

    @property
    def __doc__(self):
        return type(self._module).forward.__doc__


def _hook_dict(module: Module, pre: bool) -> OrderedDict:
    """The module's `_forward_pre_hooks` (pre) or `_forward_hooks` dict (empty if none)."""
    d = getattr(module, "_forward_pre_hooks" if pre else "_forward_hooks", None)
    return d if d is not None else OrderedDict()


def _register_hook(module: Module, hook, pre: bool = False, prepend: bool = False):
    """module.register_forward_(pre_)hook(hook, prepend=prepend), as torch."""
    if _NATIVE_HOOKS:
        reg = module.register_forward_pre_hook if pre else module.register_forward_hook
        return reg(hook, prepend=prepend)
    d = module.__dict__
    if "_forward_hooks" not in d:
        object.__setattr__(module, "_forward_hooks", OrderedDict())
        object.__setattr__(module, "_forward_pre_hooks", OrderedDict())
    if not isinstance(d.get("forward"), _HookedForward):
        # through Module.__setattr__: the module's version changes, compiled functions retrace
        module.forward = _HookedForward(module)
    hooks = d["_forward_pre_hooks" if pre else "_forward_hooks"]
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def register_forward_hook(module: Module, hook, prepend: bool = False) -> RemovableHandle:
    """Call `hook(module, args, output)` after every forward of `module` (a non-None result
    replaces the output), as torch's Module.register_forward_hook."""
    return _register_hook(module, hook, pre=False, prepend=prepend)


def register_forward_pre_hook(module: Module, hook, prepend: bool = False) -> RemovableHandle:
    """Call `hook(module, args)` before every forward of `module` (a non-None result replaces
    the arguments), as torch's Module.register_forward_pre_hook."""
    return _register_hook(module, hook, pre=True, prepend=prepend)


def _pop_hooks(module: Module, pre: bool, keep=lambda h: False) -> list:
    """Remove and return the module's (pre) hooks, except those `keep` accepts."""
    d = _hook_dict(module, pre)
    gone = [(k, h) for k, h in d.items() if not keep(h)]
    for k, _ in gone:
        d.pop(k)
    return [h for _, h in gone]


# ---- helpers shared with A1's observers (duck-typed, so this module loads without them) -----

def _is_activation_post_process(module) -> bool:
    """An observer or a fake quantize module (what prepare attaches)."""
    try:
        from .observer import ObserverBase
        from .fake_quantize import FakeQuantizeBase
        return isinstance(module, (ObserverBase, FakeQuantizeBase))
    except ImportError:
        return hasattr(module, "calculate_qparams")


def _activation_is_memoryless(qconfig) -> bool:
    """The activation observer (inside a FakeQuantize or not) has averaging_constant == 1:
    dynamic QAT, whose observer is then applied to the input (a pre hook)."""
    act = qconfig.activation()
    obs = getattr(act, "activation_post_process", act)
    return getattr(obs, "averaging_constant", None) == 1


def _replace_child(parent: Module, name: str, new: Module) -> None:
    """parent.<name> = new, keeping the child's place in parent._modules (named_children and
    state_dict order stay torch's); the version bump makes compiled functions retrace."""
    if name not in parent._modules:
        raise GraphcError(f"{type(parent).__name__} has no submodule {name!r}")
    parent._modules[name] = new
    object.__setattr__(parent, "_version", parent.__dict__.get("_version", 0) + 1)
    Module.epoch += 1


def _has_no_children(module) -> bool:
    return len(module._modules) == 0


def _functional_types() -> tuple:
    """nnq.FloatFunctional / QFunctional (graphc.ao.nn.quantized), when they exist."""
    try:
        nnq = importlib.import_module("graphc.ao.nn.quantized")
    except ImportError:
        return ()
    return tuple(t for t in (getattr(nnq, "FloatFunctional", None),
                             getattr(nnq, "QFunctional", None)) if t is not None)


# ---- qconfig propagation --------------------------------------------------------------------

def get_default_custom_config_dict() -> dict:
    """torch's default custom config: float -> observed custom modules (torch maps LSTM and
    MultiheadAttention to their quantizable forms, which graphc does not have: empty)."""
    return {"float_to_observed_custom_module_class": {},
            "observed_to_quantized_custom_module_class": {}}


def _propagate_qconfig_helper(module, qconfig_dict, qconfig_parent=None, prefix="",
                              prepare_custom_config_dict=None) -> None:
    module_qconfig = qconfig_dict.get(type(module), qconfig_parent)
    module_qconfig = qconfig_dict.get(prefix, module_qconfig)
    module_qconfig = getattr(module, "qconfig", module_qconfig)
    module.qconfig = module_qconfig
    cfg = prepare_custom_config_dict or {}
    for name, child in module.named_children():
        module_prefix = prefix + "." + name if prefix else name
        if not (name in cfg.get("non_traceable_module_name", []) or
                type(child) in cfg.get("non_traceable_module_class", [])):
            _propagate_qconfig_helper(child, qconfig_dict, module_qconfig, module_prefix)


def propagate_qconfig_(module, qconfig_dict=None, prepare_custom_config_dict=None) -> None:
    """Give every submodule a `qconfig` attribute: its own if set, else the entry of
    `qconfig_dict` for its name or type, else its parent's (in place)."""
    _propagate_qconfig_helper(module, qconfig_dict or {},
                              prepare_custom_config_dict=prepare_custom_config_dict or {})


# ---- observers ------------------------------------------------------------------------------

def _observer_forward_hook(self, input, output):
    """Forward hook that calls the observer on the output."""
    return self.activation_post_process(output)


def _observer_forward_pre_hook(self, input):
    """Forward pre hook that calls the observer on the (first) input."""
    return self.activation_post_process(input[0])


def _register_activation_post_process_hook(module, pre_hook: bool = False) -> None:
    if not hasattr(module, "activation_post_process"):
        raise GraphcError(f"{type(module).__name__}: expected an activation_post_process "
                          "attribute before registering its hook")
    if pre_hook:
        register_forward_pre_hook(module, _observer_forward_pre_hook, prepend=True)
    else:
        register_forward_hook(module, _observer_forward_hook, prepend=True)


def _add_observer_(module, qconfig_propagation_list=None, non_leaf_module_list=None,
                   device=None, custom_module_class_mapping=None) -> None:
    """Attach `activation_post_process` (qconfig.activation()) and its hook to every leaf module
    with a qconfig whose type is in qconfig_propagation_list, to fused modules and to the
    non-leaf types listed (torch's _add_observer_)."""
    if qconfig_propagation_list is None:
        qconfig_propagation_list = get_default_qconfig_propagation_list()
    custom_module_class_mapping = custom_module_class_mapping or {}
    functional = _functional_types()

    def get_activation_post_process(qconfig, special=None):
        return qconfig.activation() if special is None else special()

    def needs_observation(m):
        return getattr(m, "qconfig", None) is not None

    def insert_activation_post_process(m, special=None):
        if needs_observation(m) and not isinstance(m, DeQuantStub):
            m.add_module("activation_post_process",
                         get_activation_post_process(m.qconfig, special))
            _register_activation_post_process_hook(
                m, pre_hook=_activation_is_memoryless(m.qconfig))

    for name, child in list(module.named_children()):
        if type(child) is Dropout:
            continue
        if functional and issubclass(type(child), functional):
            if needs_observation(child):
                if not hasattr(child, "activation_post_process"):
                    raise GraphcError(f"functional class {type(child).__name__} ({name}) has no "
                                      "pre-defined `activation_post_process`")
                child.activation_post_process = get_activation_post_process(child.qconfig)
        elif isinstance(child, _FusedModule):
            if needs_observation(child):
                insert_activation_post_process(child)
        elif non_leaf_module_list is not None and type(child) in non_leaf_module_list:
            if needs_observation(child):
                insert_activation_post_process(child)
        elif _has_special_act_post_process(child):
            insert_activation_post_process(child, _get_special_act_post_process(child))
        elif needs_observation(child) and type(child) in custom_module_class_mapping:
            observed_class = custom_module_class_mapping[type(child)]
            observed_child = observed_class.from_float(child)
            setattr(module, name, observed_child)
            if not issubclass(observed_class, tuple(no_observer_set())):
                insert_activation_post_process(observed_child)
        else:
            _add_observer_(child, qconfig_propagation_list, non_leaf_module_list, device,
                           custom_module_class_mapping)

    if _has_no_children(module) and not isinstance(module, Sequential) and \
            type(module) in qconfig_propagation_list:
        insert_activation_post_process(module)
    if hasattr(module, "weight_fake_quant") and not isinstance(module, Sequential) and \
            type(module) in qconfig_propagation_list:
        insert_activation_post_process(module)


def add_quant_dequant(module):
    """Wrap every leaf module that has a qconfig in a QuantWrapper (in place; a leaf module
    itself comes back wrapped)."""
    if _has_no_children(module) and getattr(module, "qconfig", None):
        return QuantWrapper(module)
    for name, child in list(module.named_children()):
        module._modules[name] = add_quant_dequant(child)
    return module


def prepare(model, inplace: bool = False, allow_list=None, observer_non_leaf_module_list=None,
            prepare_custom_config_dict=None):
    """A copy of `model` (or `model` itself, inplace) with qconfigs propagated and observers
    attached to the outputs of its quantizable modules, for calibration (or, after
    prepare_qat's module swap, fake quantization)."""
    if prepare_custom_config_dict is None:
        prepare_custom_config_dict = get_default_custom_config_dict()
    custom = prepare_custom_config_dict.get("float_to_observed_custom_module_class", {})
    if not inplace:
        model = copy.deepcopy(model)
    propagation = allow_list if allow_list is not None else \
        get_default_qconfig_propagation_list()
    propagate_qconfig_(model, qconfig_dict=None)
    if not any(getattr(m, "qconfig", None) for m in model.modules()):
        warnings.warn("None of the submodule got qconfig applied. Make sure you passed correct "
                      "configuration through `qconfig_dict` or by assigning the `.qconfig` "
                      "attribute directly on submodules", stacklevel=2)
    _add_observer_(model, propagation, observer_non_leaf_module_list,
                   custom_module_class_mapping=custom)
    return model


def _remove_activation_post_process(module) -> None:
    if hasattr(module, "activation_post_process") and \
            _is_activation_post_process(module.activation_post_process):
        delattr(module, "activation_post_process")
    _pop_hooks(module, True, keep=lambda h: h is not _observer_forward_pre_hook)
    _pop_hooks(module, False, keep=lambda h: h is not _observer_forward_hook)


def _remove_qconfig(module) -> None:
    """Remove the qconfigs and observers prepare left (so a new qconfig can propagate)."""
    for child in module.children():
        _remove_qconfig(child)
    if "qconfig" in module.__dict__:
        del module.qconfig
    _remove_activation_post_process(module)


# ---- module swapping ------------------------------------------------------------------------

def swap_module(mod, mapping, custom_module_class_mapping, use_precomputed_fake_quant=False):
    """`mapping[type(mod)].from_float(mod)` if `mod` has a qconfig and its type is mapped,
    else `mod`; the pre hooks and the non-observer hooks move to the new module."""
    new_mod = mod
    if getattr(mod, "qconfig", None) is None:
        return mod
    swapped = False
    if type(mod) in custom_module_class_mapping:
        new_mod = custom_module_class_mapping[type(mod)].from_observed(mod)
        swapped = True
    elif type(mod) in mapping:
        qmod = mapping[type(mod)]
        if getattr(qmod, "_IS_REFERENCE", False):
            weight_post_process = mod.qconfig.weight()
            weight_post_process(mod.weight)
            from .utils import get_qparam_dict  # the reference modules' helper
            new_mod = qmod.from_float(mod, get_qparam_dict(weight_post_process))
        elif "use_precomputed_fake_quant" in inspect.signature(qmod.from_float).parameters:
            new_mod = qmod.from_float(mod, use_precomputed_fake_quant=use_precomputed_fake_quant)
        else:
            new_mod = qmod.from_float(mod)
        swapped = True
    if swapped and new_mod is not mod:
        for hook in _hook_dict(mod, True).values():
            register_forward_pre_hook(new_mod, hook)
        for hook in _hook_dict(mod, False).values():
            if hook is not _observer_forward_hook:
                register_forward_hook(new_mod, hook)
    return new_mod


def _convert(module, mapping=None, inplace: bool = False, is_reference: bool = False,
             convert_custom_config_dict=None, use_precomputed_fake_quant: bool = False):
    """Swap every submodule whose type `mapping` names (fused modules as one unit), depth
    first, as torch's _convert."""
    if mapping is None:
        mapping = get_default_static_quant_reference_module_mappings() if is_reference else \
            get_default_static_quant_module_mappings()
    if convert_custom_config_dict is None:
        convert_custom_config_dict = get_default_custom_config_dict()
    custom = convert_custom_config_dict.get("observed_to_quantized_custom_module_class", {})
    if not inplace:
        module = copy.deepcopy(module)
    reassign = {}
    for name, mod in module.named_children():
        if not isinstance(mod, _FusedModule) and type(mod) not in custom:
            _convert(mod, mapping, True, is_reference, convert_custom_config_dict,
                     use_precomputed_fake_quant)
        reassign[name] = swap_module(mod, mapping, custom, use_precomputed_fake_quant)
    for key, value in reassign.items():
        _replace_child(module, key, value)
    return module


def convert(module, mapping=None, inplace: bool = False, remove_qconfig: bool = True,
            is_reference: bool = False, convert_custom_config_dict=None,
            use_precomputed_fake_quant: bool = False, **kwargs):
    """Swap the prepared (calibrated or QAT-trained) modules for their int8 counterparts, as
    torch.ao.quantization.convert; graphc.ao.quantization.convert (the convert submodule) does
    the work, and takes its extra options (keep_fp32=...) through **kwargs."""
    try:
        impl = importlib.import_module("graphc.ao.quantization.convert").convert
    except (ImportError, AttributeError):
        impl = None
    if impl is not None and impl is not convert:
        return impl(module, mapping=mapping, inplace=inplace, remove_qconfig=remove_qconfig,
                    is_reference=is_reference,
                    convert_custom_config_dict=convert_custom_config_dict,
                    use_precomputed_fake_quant=use_precomputed_fake_quant, **kwargs)
    if mapping is None or kwargs:
        raise NotSupportedError("convert: static int8 modules (graphc.ao.quantization.convert) "
                                "are not available in this build; pass an explicit `mapping`")
    if not inplace:
        module = copy.deepcopy(module)
    _convert(module, mapping, True, is_reference, convert_custom_config_dict,
             use_precomputed_fake_quant)
    if remove_qconfig:
        _remove_qconfig(module)
    return module


# ---- the workflows --------------------------------------------------------------------------

def prepare_qat(model, mapping=None, inplace: bool = False):
    """A copy of `model` (in training mode) with its modules swapped for their QAT forms
    (weights fake-quantized) and fake quants attached to the activations."""
    if not model.training:
        raise GraphcError("prepare_qat only works on models in training mode: call "
                          "model.train() first")
    if mapping is None:
        mapping = get_default_qat_module_mappings()
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model, qconfig_dict=None)
    _convert(model, mapping=mapping, inplace=True)
    prepare(model, observer_non_leaf_module_list=set(mapping.values()), inplace=True)
    return model


def quantize(model, run_fn, run_args, mapping=None, inplace: bool = False):
    """Post-training static quantization: prepare, `run_fn(model, *run_args)` to calibrate,
    convert."""
    if mapping is None:
        mapping = get_default_static_quant_module_mappings()
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    prepare(model, inplace=True)
    run_fn(model, *run_args)
    convert(model, mapping, inplace=True)
    return model


def quantize_qat(model, run_fn, run_args, inplace: bool = False):
    """Quantization-aware training: prepare_qat, `run_fn(model, *run_args)` to train,
    convert."""
    if not inplace:
        model = copy.deepcopy(model)
    model.train()
    prepare_qat(model, inplace=True)
    run_fn(model, *run_args)
    convert(model, inplace=True)
    return model
