package io.lbmode.crds.cluster.v1;

import com.fasterxml.jackson.annotation.JsonAnyGetter;
import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Base of every modelled object of the cluster configuration.
 *
 * <p>A real GDC cluster configuration carries many fields lbmode does not model. They are kept here, in order,
 * so that a read-modify-write by the operator (the 1.16 migration) never drops them, and the generated schema
 * marks every such object {@code x-kubernetes-preserve-unknown-fields} so the API server does not prune them
 * either (it drops every field a structural schema does not declare, object by object, unless the object is marked).
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public abstract class Extensible {
    private final Map<String, Object> unmodelled = new LinkedHashMap<>();

    /** Fields of this object that lbmode does not model, in document order. */
    @JsonAnyGetter
    @JsonIgnore
    public Map<String, Object> unmodelled() {
        return unmodelled;
    }

    @JsonAnySetter
    void putUnmodelled(String name, Object value) {
        unmodelled.put(name, value);
    }
}
