package dev.semihard.engine.backend;

/** Result of a backend's availability probe: a device description when available, the reason when not. */
public record Availability(boolean available, String detail) {
    public static Availability yes(String device) { return new Availability(true, device); }
    public static Availability no(String reason) { return new Availability(false, reason); }
}
