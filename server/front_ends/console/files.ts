/**
 * The console's files as text imports, loaded by `mod.ts` on the first request for one of them.
 *
 * @module
 */

import indexHtml from "./index.html" with { type: "text" };
import appJs from "./app.js" with { type: "text" };
import styleCss from "./style.css" with { type: "text" };
import powClientJs from "./pow-client.js" with { type: "text" };
import xtermJs from "@xterm/xterm/lib/xterm.mjs" with { type: "text" };
import xtermCss from "@xterm/xterm/css/xterm.css" with { type: "text" };
import fitJs from "@xterm/addon-fit/lib/addon-fit.mjs" with { type: "text" };

export { appJs, fitJs, indexHtml, powClientJs, styleCss, xtermCss, xtermJs };
