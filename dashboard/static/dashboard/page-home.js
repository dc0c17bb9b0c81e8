import { startPage } from "./shell.js";

startPage();
