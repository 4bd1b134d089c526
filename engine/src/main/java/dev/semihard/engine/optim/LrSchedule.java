package dev.semihard.engine.optim;

import java.util.Locale;

/**
 * Learning rate as a function of the 0-based step index (the step about to be taken).
 *
 * <ul>
 *   <li>{@code constant}: lr.</li>
 *   <li>{@code step:EVERY:GAMMA}: lr * GAMMA^floor(step / EVERY), e.g. {@code step:1000:0.1}.</li>
 *   <li>{@code cosine[:warmup=W][:min=M]}: linear warm-up lr * (step + 1) / W for step &lt; W, then
 *       M + (lr - M) * (1 + cos(pi * t)) / 2 with t = (step - W) / (total - W) clamped to [0, 1]
 *       (defaults W = 0, M = 0).</li>
 * </ul>
 */
@FunctionalInterface
public interface LrSchedule {
    /** The learning rate for 0-based step {@code step}. */
    float lr(int step);

    static LrSchedule constant(float lr) {
        return step -> lr;
    }

    static LrSchedule step(float lr, int every, float gamma) {
        if (every < 1) throw new IllegalArgumentException("step schedule: the interval must be >= 1 step, got " + every);
        if (!(gamma > 0)) throw new IllegalArgumentException("step schedule: gamma must be > 0, got " + gamma);
        return step -> (float) (lr * Math.pow(gamma, Math.max(step, 0) / every));
    }

    static LrSchedule cosine(float lr, int warmupSteps, int totalSteps, float minLr) {
        if (warmupSteps < 0) throw new IllegalArgumentException("cosine schedule: warm-up must be >= 0 steps, got " + warmupSteps);
        if (totalSteps < 1) throw new IllegalArgumentException("cosine schedule: total steps must be >= 1, got " + totalSteps);
        return step -> {
            if (step < warmupSteps) return (float) ((double) lr * (step + 1) / warmupSteps);
            double t = totalSteps > warmupSteps ? (double) (step - warmupSteps) / (totalSteps - warmupSteps) : 1.0;
            t = Math.min(1.0, Math.max(0.0, t));
            return (float) (minLr + (lr - (double) minLr) * 0.5 * (1 + Math.cos(Math.PI * t)));
        };
    }

    /**
     * Parses {@code constant}, {@code step:EVERY:GAMMA} or {@code cosine[:warmup=W][:min=M]}
     * (comma also separates the cosine options) for base rate {@code lr} over {@code totalSteps}.
     */
    static LrSchedule parse(String spec, float lr, int totalSteps) {
        String usage = "; use constant, step:EVERY:GAMMA (e.g. step:1000:0.1) or cosine[:warmup=STEPS][:min=LR] (e.g. cosine:warmup=100)";
        if (spec == null || spec.isBlank()) throw new IllegalArgumentException("empty learning-rate schedule" + usage);
        String s = spec.trim().toLowerCase(Locale.ROOT);
        String[] parts = s.split("[:,]");
        try {
            switch (parts[0]) {
                case "constant":
                    if (parts.length != 1) break;
                    return constant(lr);
                case "step":
                    if (parts.length != 3) break;
                    return step(lr, Integer.parseInt(parts[1]), Float.parseFloat(parts[2]));
                case "cosine": {
                    int warmup = 0;
                    float min = 0f;
                    for (int i = 1; i < parts.length; i++) {
                        String[] kv = parts[i].split("=", 2);
                        if (kv.length != 2) throw new IllegalArgumentException("schedule '" + spec + "': option '" + parts[i] + "' is not key=value" + usage);
                        switch (kv[0]) {
                            case "warmup" -> warmup = Integer.parseInt(kv[1]);
                            case "min" -> min = Float.parseFloat(kv[1]);
                            default -> throw new IllegalArgumentException("schedule '" + spec + "': unknown option '" + kv[0] + "'" + usage);
                        }
                    }
                    return cosine(lr, warmup, totalSteps, min);
                }
                default:
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("schedule '" + spec + "': not a number (" + e.getMessage() + ")" + usage, e);
        }
        throw new IllegalArgumentException("unknown learning-rate schedule '" + spec + "'" + usage);
    }
}
