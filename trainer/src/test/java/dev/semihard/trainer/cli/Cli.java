package dev.semihard.trainer.cli;

import dev.semihard.trainer.Main;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs the CLI in-process and captures what it prints. */
final class Cli {
    final int code;
    final String out, err;

    private Cli(int code, String out, String err) {
        this.code = code;
        this.out = out;
        this.err = err;
    }

    static Cli run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int c = Main.run(new PrintWriter(o, true), new PrintWriter(e, true), args);
        return new Cli(c, o.toString(), e.toString());
    }

    @Override
    public String toString() { return "exit " + code + "\nout: " + out + "\nerr: " + err; }
}
