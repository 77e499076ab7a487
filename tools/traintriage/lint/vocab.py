"""What the names in a training script mean: the torch functions, layers, losses, optimizers and methods the
lint rules recognise (canonical dotted names after import aliases are resolved)."""

from __future__ import annotations

SOFTMAX_FUNCS = {
    "torch.softmax",
    "torch.nn.functional.softmax",
    "torch.special.softmax",
    "torch.Tensor.softmax",
}
LOG_SOFTMAX_FUNCS = {"torch.log_softmax", "torch.nn.functional.log_softmax", "torch.special.log_softmax"}
SIGMOID_FUNCS = {"torch.sigmoid", "torch.nn.functional.sigmoid", "torch.special.expit"}
# Methods that keep what a tensor "is" (probabilities stay probabilities through a reshape or a cast).
PASSTHROUGH_METHODS = {
    "view",
    "reshape",
    "squeeze",
    "unsqueeze",
    "flatten",
    "permute",
    "transpose",
    "contiguous",
    "float",
    "double",
    "half",
    "bfloat16",
    "to",
    "clone",
    "cuda",
    "cpu",
    "view_as",
    "reshape_as",
    "type_as",
}
PASSTHROUGH_FUNCS = {"torch.clamp", "torch.clip", "torch.squeeze", "torch.flatten", "torch.reshape"}

LAYER_KIND = {
    "Softmax": "softmax",
    "Softmax2d": "softmax",
    "LogSoftmax": "log_softmax",
    "Sigmoid": "sigmoid",
    "Linear": "logits",
    "LazyLinear": "logits",
    "Bilinear": "logits",
}
LOSS_CLASSES = {
    "CrossEntropyLoss": "ce",
    "NLLLoss": "nll",
    "BCEWithLogitsLoss": "bce_logits",
    "BCELoss": "bce",
}
LOSS_FUNCS = {
    "torch.nn.functional.cross_entropy": "ce",
    "torch.nn.functional.nll_loss": "nll",
    "torch.nn.functional.binary_cross_entropy_with_logits": "bce_logits",
    "torch.binary_cross_entropy_with_logits": "bce_logits",
    "torch.nn.functional.binary_cross_entropy": "bce",
    "torch.nn.functional.nll_loss2d": "nll",
}
# torch.nn blocks that contain LayerNorms of their own.
NORM_CONTAINING = {
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerDecoder",
    "Transformer",
}
NORM_LAYERS = {
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "SyncBatchNorm",
    "LayerNorm",
    "GroupNorm",
    "RMSNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
}
BIAS_LAYERS = {"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Embedding"}
# Model constructors from libraries whose classifiers end in a Linear layer (they return logits).
LOGIT_MODEL_PREFIXES = ("torchvision.models.", "timm.create_model")
OPTIMIZER_CLASSES = {
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "ASGD",
    "LBFGS",
    "Rprop",
    "SparseAdam",
    "Adafactor",
    "Lion",
    "AdamW8bit",
    "Adam8bit",
    "PagedAdamW",
    "PagedAdamW8bit",
}
SCHEDULER_HINTS = (
    "lr_scheduler",
    "get_linear_schedule",
    "get_cosine_schedule",
    "get_scheduler",
    "get_constant_schedule",
)
NO_GRAD_CONTEXTS = {
    "torch.no_grad",
    "torch.inference_mode",
    "torch.autograd.no_grad",
    "torch.autograd.grad_mode.no_grad",
}
# Calls that return the same module object (parameters unchanged) when applied to a model.
SAME_MODULE_METHODS = {
    "to",
    "cuda",
    "cpu",
    "half",
    "float",
    "double",
    "bfloat16",
    "train",
    "eval",
    "requires_grad_",
    "type",
    "to_empty",
    "share_memory",
    "apply",
    "zero_grad",
}
