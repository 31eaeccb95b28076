"""graphc.ao.nn.quantized.dynamic: dynamically quantized int8 modules (torch.ao.nn.quantized.dynamic)."""
