package dev.semihard.engine.optim;

import dev.semihard.engine.Parameter;

import java.util.List;
import java.util.Locale;

/**
 * Optimizers by name, with PyTorch's default hyper-parameters except SGD's momentum:
 * <ul>
 *   <li>{@code sgd}: momentum 0.9, no Nesterov</li>
 *   <li>{@code adam}: betas (0.9, 0.999), eps 1e-8, L2 weight decay added to the gradient</li>
 *   <li>{@code adamw}: the same with decoupled weight decay</li>
 *   <li>{@code adagrad}: eps 1e-10</li>
 * </ul>
 */
public final class Optimizers {
    public static final List<String> NAMES = List.of("sgd", "adam", "adamw", "adagrad");

    private Optimizers() {}

    public static Optimizer create(String name, List<Parameter> params, float lr, float weightDecay) {
        String n = name == null ? "" : name.toLowerCase(Locale.ROOT).trim();
        return switch (n) {
            case "sgd" -> new Sgd(params, lr, 0.9f, false, weightDecay);
            case "adam" -> new Adam(params, lr, 0.9f, 0.999f, 1e-8f, weightDecay, false);
            case "adamw" -> new Adam(params, lr, 0.9f, 0.999f, 1e-8f, weightDecay, true);
            case "adagrad" -> new Adagrad(params, lr, 1e-10f, weightDecay);
            default -> throw new IllegalArgumentException("unknown optimizer '" + name + "': use one of " + NAMES);
        };
    }
}
