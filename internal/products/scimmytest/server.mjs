// A SCIM 2.0 service provider built on the npm packages scimmy and
// scimmy-routers (nobody on this project wrote them), in memory, for the
// products tests. Started by scimmytest.go from the folder the packages
// are installed in; it prints "LISTENING <port>" once it accepts requests
// on 127.0.0.1. GET /_state (same bearer token) returns every stored user
// and group so that a test can compare them with idsync's.
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const token = process.env.SCIMMY_TOKEN || "";
SCIMMY.Config.set({patch: true, filter: 200, etag: false, sort: false, bulk: false, changePassword: false});
SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false);

function handlers(kind, key) {
    const items = new Map();
    let next = 0;
    return {
        items,
        ingress: (resource, instance) => {
            const data = JSON.parse(JSON.stringify(instance));
            delete data.meta;
            const k = String(data[key] ?? "").toLowerCase();
            for (const [id, v] of items) {
                if (id !== resource.id && String(v[key]).toLowerCase() === k)
                    throw new SCIMMY.Types.Error(409, "uniqueness", `${key} ${data[key]} is already taken`);
            }
            const now = new Date();
            if (resource.id) {
                const old = items.get(resource.id);
                if (!old) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
                const v = {...data, id: resource.id, meta: {created: old.meta.created, lastModified: now}};
                items.set(resource.id, v);
                return v;
            }
            const id = `${kind.toLowerCase()}-${++next}`;
            const v = {...data, id, meta: {created: now, lastModified: now}};
            items.set(id, v);
            return v;
        },
        egress: (resource) => {
            if (resource.id) {
                const v = items.get(resource.id);
                if (!v) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
                return v;
            }
            const all = [...items.values()];
            return resource.filter ? resource.filter.match(all) : all;
        },
        degress: (resource) => {
            if (!items.delete(resource.id)) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
        },
    };
}

const users = handlers("User", "userName");
const groups = handlers("Group", "displayName");
SCIMMY.Resources.declare(SCIMMY.Resources.User).ingress(users.ingress).egress(users.egress).degress(users.degress);
SCIMMY.Resources.declare(SCIMMY.Resources.Group).ingress(groups.ingress).egress(groups.egress).degress(groups.degress);

const auth = (req) => {
    if (req.header("Authorization") !== `Bearer ${token}`) throw new Error("missing or wrong bearer token");
    return "idsync";
};
const app = express();
app.get("/_state", (req, res) => {
    try { auth(req); } catch { return res.status(401).end(); }
    res.json({users: [...users.items.values()], groups: [...groups.items.values()]});
});
app.use("/scim/v2", new SCIMMYRouters({type: "bearer", handler: auth}));
const server = app.listen(0, "127.0.0.1", () => {
    console.log(`LISTENING ${server.address().port}`);
});
process.stdin.on("end", () => process.exit(0)); // the test closed our stdin: stop
process.stdin.resume();
