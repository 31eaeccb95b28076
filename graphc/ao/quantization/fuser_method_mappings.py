"""Which module sequences fuse_modules can join, and how (torch.ao.quantization.fuser_method_mappings).

A fuser method takes `(is_qat, *modules)`: for training (fuse_modules_qat) it returns the fused
Sequential (nni.ConvBn2d, ...) that prepare_qat turns into a QAT module; for eval (fuse_modules)
Conv/Linear + BatchNorm fold the BatchNorm into the weights (graphc.nn.utils.fusion).
"""
from __future__ import annotations

from typing import Callable

from ...errors import GraphcError, NotSupportedError
from ...nn import (BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d,
                   Linear, ReLU)
from ...nn.utils import fusion
from ..nn import intrinsic as nni

__all__ = ["fuse_conv_bn", "fuse_conv_bn_relu", "fuse_linear_bn", "fuse_convtranspose_bn",
           "get_fuser_method"]


def _same_mode(what: str, *mods) -> None:
    if len({m.training for m in mods}) != 1:
        names = ", ".join(f"{type(m).__name__}({'train' if m.training else 'eval'})"
                          for m in mods)
        raise GraphcError(f"{what}: {names}: the modules must all be in the same mode (train or "
                          "eval)")


def _check_qat_bn(what: str, n_out: int, bn) -> None:
    if bn.num_features != n_out:
        raise GraphcError(f"{what}: {n_out} output channels but {type(bn).__name__} has "
                          f"num_features={bn.num_features}")
    if not bn.affine:
        raise NotSupportedError(f"{what}: only BatchNorm with affine=True can be fused")
    if not bn.track_running_stats:
        raise NotSupportedError(f"{what}: only BatchNorm with track_running_stats=True can be "
                                "fused")


_CONV_BN = {Conv1d: nni.ConvBn1d, Conv2d: nni.ConvBn2d}
_CONV_BN_RELU = {Conv1d: nni.ConvBnReLU1d, Conv2d: nni.ConvBnReLU2d}
_CONV_RELU = {Conv1d: nni.ConvReLU1d, Conv2d: nni.ConvReLU2d}


def fuse_conv_bn(is_qat: bool, conv, bn):
    """Conv + BatchNorm: nni.ConvBn1d/2d for QAT, else a Conv with the BN folded in."""
    _same_mode("fuse_conv_bn", conv, bn)
    if is_qat:
        _check_qat_bn("fuse_conv_bn", conv.out_channels, bn)
        return _CONV_BN[type(conv)](conv, bn)
    return fusion.fuse_conv_bn_eval(conv, bn)


def fuse_conv_bn_relu(is_qat: bool, conv, bn, relu):
    """Conv + BatchNorm + ReLU: nni.ConvBnReLU1d/2d for QAT, else nni.ConvReLU1d/2d of the
    folded Conv."""
    _same_mode("fuse_conv_bn_relu", conv, bn, relu)
    if is_qat:
        _check_qat_bn("fuse_conv_bn_relu", conv.out_channels, bn)
        return _CONV_BN_RELU[type(conv)](conv, bn, relu)
    return _CONV_RELU[type(conv)](fusion.fuse_conv_bn_eval(conv, bn), relu)


def fuse_linear_bn(is_qat: bool, linear, bn):
    """Linear + BatchNorm1d: nni.LinearBn1d for QAT, else a Linear with the BN folded in."""
    _same_mode("fuse_linear_bn", linear, bn)
    if is_qat:
        _check_qat_bn("fuse_linear_bn", linear.out_features, bn)
        return nni.LinearBn1d(linear, bn)
    return fusion.fuse_linear_bn_eval(linear, bn)


def fuse_convtranspose_bn(is_qat: bool, convt, bn):
    """ConvTranspose + BatchNorm (eval only, as torch): the ConvTranspose with the BN folded in."""
    _same_mode("fuse_convtranspose_bn", convt, bn)
    if is_qat:
        raise NotSupportedError("fuse_convtranspose_bn: fusing ConvTranspose+BatchNorm is not "
                                "supported in QAT (torch does not either); fuse in eval mode")
    return fusion.fuse_conv_bn_eval(convt, bn, transpose=True)


def _sequential_wrapper2(sequential) -> Callable:
    """A fuser method that puts the two modules in `sequential` whatever is_qat is."""
    def fuser_method(is_qat, m1, m2):
        return sequential(m1, m2)
    return fuser_method


_DEFAULT_OP_LIST_TO_FUSER_METHOD: dict[tuple, Callable] = {
    (Conv1d, BatchNorm1d): fuse_conv_bn,
    (Conv1d, BatchNorm1d, ReLU): fuse_conv_bn_relu,
    (Conv2d, BatchNorm2d): fuse_conv_bn,
    (Conv2d, BatchNorm2d, ReLU): fuse_conv_bn_relu,
    (Conv1d, ReLU): _sequential_wrapper2(nni.ConvReLU1d),
    (Conv2d, ReLU): _sequential_wrapper2(nni.ConvReLU2d),
    (Linear, BatchNorm1d): fuse_linear_bn,
    (Linear, ReLU): _sequential_wrapper2(nni.LinearReLU),
    (BatchNorm2d, ReLU): _sequential_wrapper2(nni.BNReLU2d),
    (ConvTranspose1d, BatchNorm1d): fuse_convtranspose_bn,
    (ConvTranspose2d, BatchNorm2d): fuse_convtranspose_bn,
}


def get_fuser_method(op_list: tuple, additional_fuser_method_mapping=None) -> Callable:
    """The fuser method for a tuple of module types; GraphcError naming them if there is none."""
    mapping = {**_DEFAULT_OP_LIST_TO_FUSER_METHOD, **(additional_fuser_method_mapping or {})}
    fuser = mapping.get(tuple(op_list))
    if fuser is None:
        names = ", ".join(getattr(t, "__name__", str(t)) for t in op_list)
        known = "; ".join("(" + ", ".join(t.__name__ for t in k) + ")"
                          for k in _DEFAULT_OP_LIST_TO_FUSER_METHOD)
        raise NotSupportedError(f"did not find fuser method for: ({names}). Fusable sequences: "
                                f"{known}; pass fuse_custom_config_dict="
                                "{'additional_fuser_method_mapping': {...}} for others")
    return fuser
