"""fuse_modules / fuse_modules_qat (torch.ao.quantization.fuse_modules).

    fused = fuse_modules(model.eval(), [["conv1", "bn1", "relu1"], ["layer1.0.conv", "layer1.0.bn"]])

The first module of each list becomes the fused module (a Conv with the BatchNorm folded in for
eval, nni.ConvBnReLU2d & co. for QAT), the others nn.Identity (in the first module's mode).
Forward pre hooks of the first module and forward hooks of the last move to the fused module.
Names are dotted paths; an unknown name or a sequence that cannot be fused raises GraphcError
naming it.
"""
from __future__ import annotations

import copy

from ...errors import GraphcError
from ...nn import Identity
from .fuser_method_mappings import fuse_conv_bn, fuse_conv_bn_relu, get_fuser_method  # noqa: F401
from .quantize import (_hook_dict, _replace_child, register_forward_hook,
                       register_forward_pre_hook)

__all__ = ["fuse_known_modules", "fuse_modules", "fuse_modules_qat"]


def _get_module(model, submodule_key: str):
    cur = model
    walked = []
    for s in submodule_key.split("."):
        mods = getattr(cur, "_modules", {})
        if s not in mods:
            have = ", ".join(mods) or "none"
            at = ".".join(walked) or type(model).__name__
            raise GraphcError(f"fuse_modules: no submodule {submodule_key!r} in "
                              f"{type(model).__name__} ({at!r} has no child {s!r}; its "
                              f"children: {have})")
        cur = mods[s]
        walked.append(s)
    return cur


def _set_module(model, submodule_key: str, module) -> None:
    *path, last = submodule_key.split(".")
    parent = _get_module(model, ".".join(path)) if path else model
    _replace_child(parent, last, module)


def fuse_known_modules(mod_list, is_qat: bool, additional_fuser_method_mapping=None) -> list:
    """The fused module followed by Identity()s, one per input module (torch's rules)."""
    types_ = tuple(type(m) for m in mod_list)
    fuser_method = get_fuser_method(types_, additional_fuser_method_mapping)
    fused = fuser_method(is_qat, *mod_list)
    for hook in _hook_dict(mod_list[0], True).values():
        register_forward_pre_hook(fused, hook)
    _hook_dict(mod_list[0], True).clear()
    for hook in _hook_dict(mod_list[-1], False).values():
        register_forward_hook(fused, hook)
    _hook_dict(mod_list[-1], False).clear()
    new_mod = [fused]
    for _ in mod_list[1:]:
        identity = Identity()
        identity.train(mod_list[0].training)
        new_mod.append(identity)
    return new_mod


def _fuse_modules_helper(model, modules_to_fuse, is_qat, fuser_func=fuse_known_modules,
                         fuse_custom_config_dict=None) -> None:
    cfg = fuse_custom_config_dict or {}
    additional = cfg.get("additional_fuser_method_mapping", {})
    mod_list = [_get_module(model, item) for item in modules_to_fuse]
    try:
        new_mod_list = fuser_func(mod_list, is_qat, additional)
    except GraphcError as e:
        raise type(e)(f"fuse_modules{'_qat' if is_qat else ''}({list(modules_to_fuse)}): "
                      f"{e}") from None
    for item, new in zip(modules_to_fuse, new_mod_list):
        _set_module(model, item, new)


def _fuse_modules(model, modules_to_fuse, is_qat, inplace=False, fuser_func=fuse_known_modules,
                  fuse_custom_config_dict=None):
    if isinstance(modules_to_fuse, str) or not len(modules_to_fuse):
        raise GraphcError(f"fuse_modules: modules_to_fuse must be a list of module names or a "
                          f"list of such lists, got {modules_to_fuse!r}")
    groups = [modules_to_fuse] if all(isinstance(m, str) for m in modules_to_fuse) else \
        modules_to_fuse
    additional = (fuse_custom_config_dict or {}).get("additional_fuser_method_mapping", {})
    for group in groups:   # every name and pattern checked before anything is fused
        if isinstance(group, str) or not all(isinstance(n, str) for n in group):
            raise GraphcError(f"fuse_modules: each group must be a list of module names, got "
                              f"{group!r}")
        mods = [_get_module(model, n) for n in group]
        if fuser_func is fuse_known_modules:
            try:
                get_fuser_method(tuple(type(m) for m in mods), additional)
            except GraphcError as e:
                raise type(e)(f"fuse_modules{'_qat' if is_qat else ''}({list(group)}): "
                              f"{e}") from None
    if not inplace:
        model = copy.deepcopy(model)
    for group in groups:
        _fuse_modules_helper(model, group, is_qat, fuser_func, fuse_custom_config_dict)
    return model


def fuse_modules(model, modules_to_fuse, inplace: bool = False, fuser_func=fuse_known_modules,
                 fuse_custom_config_dict=None):
    """Fuse each list of named modules (conv-bn, conv-bn-relu, conv-relu, linear-bn,
    linear-relu, bn-relu) for post-training quantization (eval mode: BatchNorm folded into the
    weights); a copy unless inplace."""
    return _fuse_modules(model, modules_to_fuse, False, inplace, fuser_func,
                         fuse_custom_config_dict)


def fuse_modules_qat(model, modules_to_fuse, inplace: bool = False,
                     fuser_func=fuse_known_modules, fuse_custom_config_dict=None):
    """fuse_modules for quantization-aware training (train mode: Conv-BN stays two modules in
    an nni.ConvBn2d, which prepare_qat makes a QAT ConvBn2d)."""
    return _fuse_modules(model, modules_to_fuse, True, inplace, fuser_func,
                         fuse_custom_config_dict)
