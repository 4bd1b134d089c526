package dev.semihard.trainer.cli;

import picocli.CommandLine.Command;

/** The top-level {@code semihard} command; each sub-command is a class in this package. */
@Command(name = "semihard", mixinStandardHelpOptions = true, version = "semihard 0.1.0",
        description = {"Train face-embedding networks with online triplet mining (FaceNet).",
                "Run 'semihard train' to train fmnist-cnn on Fashion-MNIST on the best available backend."},
        subcommands = {TrainCommand.class, EvalCommand.class, EmbedCommand.class, InfoCommand.class,
                SelftestCommand.class, BenchCliCommand.class, PackCommand.class, picocli.CommandLine.HelpCommand.class})
public final class SemihardCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
