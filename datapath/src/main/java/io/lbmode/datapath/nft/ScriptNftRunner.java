package io.lbmode.datapath.nft;

import java.util.Optional;

/**
 * An {@link NftRunner} that hands nft a script and reads back its status, output and error text: libnftables and the
 * {@code nft -f -} subprocess differ only in how they do that, so what the answers mean lives here once.
 */
abstract sealed class ScriptNftRunner implements NftRunner permits LibNftables, NftProcess {

    /** What nft answered to one script. */
    record Answer(int status, String out, String err) {
        boolean ok() {
            return status == 0;
        }
    }

    /** Runs an nft script (commands in {@code nft -f} syntax, listings included) and returns nft's answer. */
    abstract Answer execute(String script);

    @Override
    public final void run(String script) {
        Answer answer = execute(script);
        if (!answer.ok()) {
            throw new NftException(NftErrors.explain(answer.err()));
        }
    }

    @Override
    public final Optional<String> listTable(String family, String table) {
        return list("table " + family + " " + table);
    }

    @Override
    public Optional<String> listCounter(String family, String table, String counter) {
        return list("counter " + family + " " + table + " " + counter);
    }

    private Optional<String> list(String what) {
        Answer answer = execute("list " + what);
        if (answer.ok()) {
            return Optional.of(answer.out());
        }
        if (answer.err().contains("No such file or directory")) {
            return Optional.empty();
        }
        throw new NftException(NftErrors.explain(answer.err()));
    }
}
