package dev.semihard.engine.nn;

import dev.semihard.engine.Rng;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.ops.F;

/**
 * ResNet basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), both convolutions 3x3
 * padding 1 without bias, the first with the block's stride. The shortcut is the identity when the
 * shape is kept, otherwise conv1x1(stride) then batch norm. State names (torchvision's):
 * {@code <name>.conv1.weight}, {@code <name>.bn1.*}, {@code <name>.conv2.weight}, {@code <name>.bn2.*},
 * {@code <name>.downsample.0.weight}, {@code <name>.downsample.1.*}. bn1 is fused with the ReLU that
 * follows it ({@link F#batchNorm2dRelu}); bn2 is not, because the add comes between it and the ReLU.
 */
public final class BasicBlock extends Module {
    private final Conv2d conv1, conv2, downConv;
    private final BatchNorm2d bn1, bn2, downBn;

    public BasicBlock(Backend backend, String name, int in, int out, int stride, Rng rng) {
        super(name);
        conv1 = addChild(new Conv2d(backend, qualify("conv1"), in, out, 3, stride, 1, rng));
        bn1 = addChild(new BatchNorm2d(backend, qualify("bn1"), out, true));
        conv2 = addChild(new Conv2d(backend, qualify("conv2"), out, out, 3, 1, 1, rng));
        bn2 = addChild(new BatchNorm2d(backend, qualify("bn2"), out));
        if (stride != 1 || in != out) {
            downConv = addChild(new Conv2d(backend, qualify("downsample.0"), in, out, 1, stride, 0, rng));
            downBn = addChild(new BatchNorm2d(backend, qualify("downsample.1"), out));
        } else {
            downConv = null;
            downBn = null;
        }
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = bn1.forward(conv1.forward(x));   // relu(bn1(conv1(x))), fused
        h = bn2.forward(conv2.forward(h));
        Tensor shortcut = downConv == null ? x : downBn.forward(downConv.forward(x));
        return F.relu(F.add(h, shortcut));
    }

    public boolean hasDownsample() { return downConv != null; }
}
