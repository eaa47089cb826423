package io.lbmode.cli;

import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.validation.ClusterValidator;
import io.lbmode.validation.Problem;
import io.lbmode.validation.Verdict;
import io.lbmode.yaml.KubeYaml;
import io.lbmode.yaml.KubeYamlException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code lbmode validate FILE...} and {@code lbmode check-update OLD NEW}: the validation engine from the shell.
 *
 * <p>Exit codes: 0 valid / allowed, 1 invalid / denied, 2 usage or input errors (unreadable, not YAML, a file with
 * no Cluster: nothing checked is never "valid"). Results go
 * to standard output, notes and warnings to standard error; a stack trace is never shown.
 */
public final class Main {
    static final int OK = 0;
    static final int INVALID = 1;
    static final int USAGE = 2;

    static final String USAGE_TEXT = """
            usage: lbmode validate FILE...
                     Checks every Cluster (baremetal.cluster.gke.io/v1) in the YAML files; other documents are skipped.
                     Prints FILE: NAMESPACE/NAME: FIELD.PATH: message for every problem. A kind: List (what
                     kubectl get -o yaml writes) is checked item by item; a file with no Cluster is an error.
                   lbmode check-update OLD NEW
                     The decision the admission webhook takes when the Cluster in OLD is replaced by the one in NEW,
                     and the forwardMode migration the operator would apply.
            exit codes: 0 valid/allowed, 1 invalid/denied, 2 usage or input error (unreadable, not YAML, no Cluster)""";

    private final PrintStream out;
    private final PrintStream err;

    Main(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    public static void main(String[] args) {
        int code;
        try {
            code = new Main(System.out, System.err).run(args);
        } catch (RuntimeException | Error e) {
            // Last resort: a bug must still not dump a stack trace on the user.
            System.err.println("lbmode: internal error: " + e + " (please report it)");
            code = USAGE;
        }
        System.out.flush();
        System.exit(code);
    }

    int run(String[] args) {
        if (args.length == 0) {
            err.println(USAGE_TEXT);
            return USAGE;
        }
        return switch (args[0]) {
            case "validate" -> args.length < 2 ? usage("validate needs at least one FILE") : validate(List.of(args).subList(1, args.length));
            case "check-update" -> args.length != 3 ? usage("check-update needs exactly two files: OLD NEW") : checkUpdate(args[1], args[2]);
            case "-h", "--help", "help" -> {
                out.println(USAGE_TEXT);
                yield OK;
            }
            default -> usage("unknown command '" + args[0] + "'");
        };
    }

    private int usage(String message) {
        err.println("lbmode: " + message);
        err.println(USAGE_TEXT);
        return USAGE;
    }

    private int validate(List<String> files) {
        int code = OK;
        for (String file : files) {
            List<KubeYaml.Document> documents;
            try {
                documents = KubeYaml.read(Path.of(file));
            } catch (KubeYamlException e) {
                err.println(prefixed(file, e.getMessage()));
                code = USAGE;
                continue;
            }
            int clusters = 0;
            for (Entry entry : entries(documents)) {
                KubeYaml.Document doc = entry.document();
                if (!doc.isCluster()) {
                    err.println(file + ": note: " + entry.where() + " (" + describe(doc) + ") skipped: " + whyNotACluster(doc));
                    continue;
                }
                clusters++;
                String who = file + ": " + doc.displayName() + ": ";
                Verdict verdict = ClusterValidator.validateCreate(doc.node());
                verdict.warnings().forEach(w -> err.println(who + "warning: " + w));
                if (verdict.allowed()) {
                    out.println(who + "valid (forwardMode " + effective(doc) + ")");
                    verdict.migration().ifPresent(m -> out.println(who + "migration: " + m.message()));
                } else {
                    verdict.problems().forEach(p -> out.println(who + p));
                    code = Math.max(code, INVALID);
                }
            }
            if (clusters == 0) {
                // Nothing was checked, so nothing can be called valid: a wrong file must not pass a CI gate.
                err.println(file + ": no Cluster (apiVersion " + Cluster.API_VERSION + ", kind " + Cluster.KIND
                        + ") in this file; nothing was validated");
                code = USAGE;
            }
        }
        return code;
    }

    /** A document of a file, or an item of a {@code kind: List} document (what {@code kubectl get -o yaml} writes). */
    private record Entry(String where, KubeYaml.Document document) {
    }

    private static List<Entry> entries(List<KubeYaml.Document> documents) {
        List<Entry> entries = new java.util.ArrayList<>();
        for (KubeYaml.Document doc : documents) {
            if (isList(doc)) {
                var items = doc.node().path("items");
                for (int i = 0; i < items.size(); i++) {
                    entries.add(new Entry("document " + doc.index() + " item " + i, new KubeYaml.Document(doc.index(), items.get(i))));
                }
            } else {
                entries.add(new Entry("document " + doc.index(), doc));
            }
        }
        return entries;
    }

    private static boolean isList(KubeYaml.Document doc) {
        return ("List".equals(doc.kind()) || doc.kind().endsWith("List")) && doc.node().path("items").isArray();
    }

    /** Why a document is not a Cluster; a near miss (wrong case, another version of the group) says what to write. */
    private static String whyNotACluster(KubeYaml.Document doc) {
        boolean ourGroup = doc.apiVersion().startsWith(Cluster.GROUP + "/");
        if (doc.kind().equalsIgnoreCase(Cluster.KIND) && !doc.kind().equals(Cluster.KIND)) {
            return "kind '" + doc.kind() + "' is not " + Cluster.KIND + " (kinds are case-sensitive)";
        }
        if (doc.kind().equals(Cluster.KIND) && ourGroup) {
            return "apiVersion " + doc.apiVersion() + " is not " + Cluster.API_VERSION + ", the version lbmode checks";
        }
        if (doc.kind().equals(Cluster.KIND) && doc.apiVersion().isEmpty()) {
            return "apiVersion is missing; write apiVersion: " + Cluster.API_VERSION;
        }
        return "not a Cluster";
    }

    private int checkUpdate(String oldFile, String newFile) {
        Cluster old;
        try {
            old = KubeYaml.toCluster(onlyCluster(oldFile, KubeYaml.read(Path.of(oldFile))).node());
        } catch (KubeYamlException e) {
            err.println(prefixed(oldFile, e.getMessage()));
            return USAGE;
        }
        KubeYaml.Document updatedDoc;
        try {
            updatedDoc = onlyCluster(newFile, KubeYaml.read(Path.of(newFile)));
        } catch (KubeYamlException e) {
            err.println(prefixed(newFile, e.getMessage()));
            return USAGE;
        }
        String updatedName = updatedDoc.displayName();
        if (!name(old).equals(updatedName)) {
            // The webhook only ever sees two versions of one object; comparing different clusters would mean nothing.
            err.println("lbmode: OLD is " + name(old) + " but NEW is " + updatedName + "; give two versions of the same Cluster");
            return USAGE;
        }
        Verdict verdict = ClusterValidator.validateUpdate(old, updatedDoc.node());
        verdict.warnings().forEach(w -> err.println("warning: " + w));
        if (!verdict.allowed()) {
            out.println("denied: update of " + updatedName);
            for (Problem problem : verdict.problems()) {
                out.println(problem);
            }
            return INVALID;
        }
        out.println("allowed: update of " + updatedName + " (forwardMode " + effective(updatedDoc) + ")");
        verdict.migration().ifPresent(m -> out.println("migration: " + m.message()));
        return OK;
    }

    private static KubeYaml.Document onlyCluster(String file, List<KubeYaml.Document> documents) throws KubeYamlException {
        List<KubeYaml.Document> clusters = entries(documents).stream().map(Entry::document)
                .filter(KubeYaml.Document::isCluster).toList();
        if (clusters.size() != 1) {
            throw new KubeYamlException("must contain exactly one Cluster (" + Cluster.API_VERSION + "), found " + clusters.size());
        }
        return clusters.getFirst();
    }

    private static String effective(KubeYaml.Document doc) {
        try {
            return ForwardMode.effective(KubeYaml.toCluster(doc.node())).wireName();
        } catch (KubeYamlException e) {
            return "unknown";
        }
    }

    private static String name(Cluster cluster) {
        String ns = cluster.getMetadata() == null || cluster.getMetadata().getNamespace() == null ? "-" : cluster.getMetadata().getNamespace();
        String name = cluster.getMetadata() == null || cluster.getMetadata().getName() == null ? "-" : cluster.getMetadata().getName();
        return ns + "/" + name;
    }

    private static String describe(KubeYaml.Document doc) {
        if (doc.node().isNull() || doc.node().isMissingNode()) {
            return "empty";
        }
        if (doc.kind().isEmpty()) {
            return "no kind";
        }
        return doc.apiVersion().isEmpty() ? doc.kind() : doc.apiVersion() + " " + doc.kind();
    }

    private static String prefixed(String file, String message) {
        return message.startsWith(file) ? message : file + ": " + message;
    }
}
