package dev.semihard.trainer.cli;

import picocli.CommandLine.Option;

/**
 * {@code --model} and {@code --input-size}, declared once for the commands that build or feed a model
 * ({@code train}, {@code pack}). Both are null when not given: each command applies its own default
 * (train: recipe or fmnist-cnn; pack: face-resnet10), and {@code Models.check} validates the pair.
 */
public final class ModelOptionsMixin {
    @Option(names = "--model", paramLabel = "NAME", description = "fmnist-cnn (1x28x28), face-resnet10, face-resnet18 or face-resnet34"
            + " (3x96x96 by default, see --input-size); default: train fmnist-cnn, pack face-resnet10")
    String model;

    @Option(names = "--input-size", paramLabel = "S", description = "face models: SxS images, 32 to 512 (default 96; face"
            + " data sets ship at 112 or 160); image folders are resized to it. fmnist-cnn takes 28 only")
    Integer inputSize;
}
