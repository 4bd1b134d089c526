package dev.semihard.trainer.cli;

import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Distance;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.trainer.data.DataSources;
import dev.semihard.trainer.data.Dataset;
import dev.semihard.trainer.eval.Evaluator;
import dev.semihard.trainer.io.AtomicFiles;
import dev.semihard.trainer.train.TrainConfig;
import dev.semihard.engine.util.Json;
import dev.semihard.trainer.util.Log;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code semihard eval}: scores a checkpoint on the evaluation set. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Evaluate a checkpoint: Recall@K, MAP@R, 10-fold verification accuracy, VAL@FAR=1e-3/1e-2, ROC AUC, EER.",
                "Uses pairs.txt on LFW-style data, otherwise 3000 + 3000 pairs drawn with a fixed seed."})
public final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    BackendOptionsMixin backendOptions;

    @Mixin
    CheckpointParameterMixin checkpoint;

    @Mixin
    DataOptionsMixin dataOptions;

    @Mixin
    DistanceOptionMixin distanceOption;

    @Mixin
    EvalOptionsMixin evalOptions;

    @Option(names = "--out", paramLabel = "DIR", description = "where eval.json and the plots go (default: the checkpoint's folder)")
    Path out;

    @Override
    public Integer call() throws Exception {
        // the evaluation settings and their checks are train's (TrainConfig): one set of defaults and messages
        TrainConfig c = new TrainConfig();
        distanceOption.applyTo(c);
        evalOptions.applyTo(c);
        Distance metric;
        try {
            c.validate();
            metric = Distance.parse(c.distance);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        Path file = checkpoint.file();
        Path dir = out != null ? out : file.toAbsolutePath().getParent();
        try (Backend backend = backendOptions.create(); EmbeddingModel model = ModelLoading.load(file, backend, null)) {
            DataSources.Data d = DataSources.resolve(dataOptions.data, model.inputShape(), dataOptions.strict);
            Dataset test = d.test();
            if (c.evalLimit > 0 && d.pairs() == null) test = test.head(c.evalLimit);
            Log.info("evaluating " + model.name() + " from " + file + " on " + test + " (" + backend.name() + ")");
            float[] e = Evaluator.embed(model, test, backend, 256);
            Evaluator.Result r = Evaluator.evaluate(e, test.size(), model.embeddingDim(), test.labels(), d.pairs(), metric,
                    c.recallK.stream().mapToInt(Integer::intValue).toArray());
            Files.createDirectories(dir);
            AtomicFiles.write(dir.resolve("eval.json"), (Json.write(r.toMap()) + "\n").getBytes(StandardCharsets.UTF_8));
            if (c.plots) Evaluator.plots(r, dir);
            var o = spec.commandLine().getOut();
            for (int i = 0; i < r.retrieval().ks().length; i++)
                o.println(String.format("Recall@%-3d            %.4f", r.retrieval().ks()[i], r.retrieval().recall()[i]));
            o.println(String.format("MAP@R                 %.4f", r.retrieval().mapAtR()));
            o.println(String.format("verification acc.     %.4f +- %.4f (%d same, %d different pairs, 10 folds)",
                    r.verification().accuracy(), r.verification().accuracyStd(), r.verification().same(), r.verification().diff()));
            o.println(String.format("VAL@FAR=1e-3          %.4f", r.verification().valAt1e3()));
            o.println(String.format("VAL@FAR=1e-2          %.4f", r.verification().valAt1e2()));
            o.println(String.format("ROC AUC               %.4f", r.verification().auc()));
            o.println(String.format("EER                   %.4f", r.verification().eer()));
            o.println("written               " + dir.resolve("eval.json"));
            o.flush();
        }
        return 0;
    }
}
