package io.lbmode.datapath;

import io.lbmode.datapath.agent.AgentOptions;
import io.lbmode.datapath.agent.AgentRunner;
import io.lbmode.datapath.agent.Programmers;
import java.util.Map;

/**
 * The node agent: {@code lbmode datapath --node NAME [--state-dir DIR] ...} (see {@link AgentOptions#USAGE}).
 * Exit codes: 0 done, 1 could not program (message on stderr), 2 command-line mistake.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.getenv()));
    }

    /** {@link #main} without {@code System.exit}, for tests and embedding. */
    public static int run(String[] args, Map<String, String> env) {
        for (String a : args) {
            if (a.equals("--help") || a.equals("-h")) {
                System.out.print(AgentOptions.USAGE);
                return 0;
            }
        }
        AgentOptions options;
        try {
            options = AgentOptions.parse(args, env);
        } catch (AgentOptions.UsageException e) {
            System.err.println("lbmode datapath: " + e.getMessage());
            System.err.print(AgentOptions.USAGE);
            return 2;
        }
        // A dry run never touches the kernel, so it also works without root and without libnftables.
        try (AgentRunner runner = new AgentRunner(options, Programmers.of(options))) {
            return runner.run();
        } catch (Exception e) {
            System.err.println("lbmode datapath: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            return 1;
        }
    }
}
