/**
 * The bundled verifiable task: arithmetic problems with their answers, and the held-out
 * evaluation of a model on them.
 */
package org.treeroll.engine.task;
