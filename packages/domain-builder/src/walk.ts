// A complete walker over binaryen expressions, built from binaryen.js's
// per-class accessors (getExpressionInfo throws on some kinds and cannot
// replace a child). Each visit gets the expression and a function that
// replaces it in its parent. An expression kind the table does not know is
// refused, so an instrumentation never silently skips code.
import binaryen from 'binaryen';
import { XenError } from '@xenwasm/xen-errno';

type Ref = number;
/** Replaces the visited expression in its parent. */
export type Replace = (replacement: Ref) => void;
export type Visitor = (expr: Ref, id: number, replace: Replace) => void;

interface KindSpec {
  cls: string;
  /** Single children, by accessor suffix (getX/setX); 0 means absent. */
  fields: string[];
  /** List children: [getNum, getAt, setAt]. */
  lists: Array<[string, string, string]>;
}

const OPERANDS: [string, string, string] = ['getNumOperands', 'getOperandAt', 'setOperandAt'];

// Kind name (binaryen.<Kind>Id) -> accessor class and child accessors.
const KINDS: Record<string, [string, string[], Array<[string, string, string]>?]> = {
  Nop: ['Nop', []],
  Block: ['Block', [], [['getNumChildren', 'getChildAt', 'setChildAt']]],
  If: ['If', ['Condition', 'IfTrue', 'IfFalse']],
  Loop: ['Loop', ['Body']],
  Break: ['Break', ['Condition', 'Value']],
  Switch: ['Switch', ['Condition', 'Value']],
  Call: ['Call', [], [OPERANDS]],
  CallIndirect: ['CallIndirect', ['Target'], [OPERANDS]],
  LocalGet: ['LocalGet', []],
  LocalSet: ['LocalSet', ['Value']],
  GlobalGet: ['GlobalGet', []],
  GlobalSet: ['GlobalSet', ['Value']],
  Load: ['Load', ['Ptr']],
  Store: ['Store', ['Ptr', 'Value']],
  AtomicRMW: ['AtomicRMW', ['Ptr', 'Value']],
  AtomicCmpxchg: ['AtomicCmpxchg', ['Ptr', 'Expected', 'Replacement']],
  AtomicWait: ['AtomicWait', ['Ptr', 'Expected', 'Timeout']],
  AtomicNotify: ['AtomicNotify', ['Ptr', 'NotifyCount']],
  AtomicFence: ['AtomicFence', []],
  SIMDExtract: ['SIMDExtract', ['Vec']],
  SIMDReplace: ['SIMDReplace', ['Vec', 'Value']],
  SIMDShuffle: ['SIMDShuffle', ['Left', 'Right']],
  SIMDTernary: ['SIMDTernary', ['A', 'B', 'C']],
  SIMDShift: ['SIMDShift', ['Vec', 'Shift']],
  SIMDLoad: ['SIMDLoad', ['Ptr']],
  SIMDLoadStoreLane: ['SIMDLoadStoreLane', ['Ptr', 'Vec']],
  MemoryInit: ['MemoryInit', ['Dest', 'Offset', 'Size']],
  DataDrop: ['DataDrop', []],
  MemoryCopy: ['MemoryCopy', ['Dest', 'Source', 'Size']],
  MemoryFill: ['MemoryFill', ['Dest', 'Value', 'Size']],
  Const: ['Const', []],
  Unary: ['Unary', ['Value']],
  Binary: ['Binary', ['Left', 'Right']],
  Select: ['Select', ['IfTrue', 'IfFalse', 'Condition']],
  Drop: ['Drop', ['Value']],
  Return: ['Return', ['Value']],
  MemorySize: ['MemorySize', []],
  MemoryGrow: ['MemoryGrow', ['Delta']],
  Unreachable: ['Unreachable', []],
  Pop: ['Pop', []],
  RefNull: ['RefNull', []],
  RefIsNull: ['RefIsNull', ['Value']],
  RefFunc: ['RefFunc', []],
  RefEq: ['RefEq', ['Left', 'Right']],
  RefAs: ['RefAs', ['Value']],
  TableGet: ['TableGet', ['Index']],
  TableSet: ['TableSet', ['Index', 'Value']],
  TableSize: ['TableSize', []],
  TableGrow: ['TableGrow', ['Value', 'Delta']],
  Try: ['Try', ['Body'], [['getNumCatchBodies', 'getCatchBodyAt', 'setCatchBodyAt']]],
  Throw: ['Throw', [], [OPERANDS]],
  Rethrow: ['Rethrow', []],
  TupleMake: ['TupleMake', [], [OPERANDS]],
  TupleExtract: ['TupleExtract', ['Tuple']],
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const B = binaryen as any;
const byId = new Map<number, KindSpec & { name: string }>();
for (const [name, [cls, fields, lists]] of Object.entries(KINDS)) {
  const id = B[`${name}Id`];
  const api = B[cls];
  if (typeof id !== 'number') continue; // kind absent from this binaryen
  if (!api && (fields.length || lists)) throw new Error(`binaryen.${cls} accessors missing`);
  for (const f of fields) if (typeof api[`get${f}`] !== 'function') throw new Error(`binaryen.${cls}.get${f} missing`);
  byId.set(id, { name, cls, fields, lists: lists ?? [] });
}
const idNames = new Map<number, string>();
for (const k of Object.keys(B)) if (k.endsWith('Id') && typeof B[k] === 'number') idNames.set(B[k], k.slice(0, -2));

export class UnsupportedExpressionError extends XenError {
  constructor(kind: string, func: string) {
    super('GUEST_UNSUPPORTED', `guest function ${func} uses ${kind}, which the domain builder cannot instrument`, { kind, func });
  }
}

/**
 * Visits every expression of func's body, children before their parent is
 * left (pre-order visit). The visitor may replace the visited expression; the
 * walker then does not descend into the replacement.
 */
export function walkFunction(func: number, funcName: string, visit: Visitor): void {
  const body = B.Function.getBody(func);
  if (!body) return;
  walkExpression(body, (r) => B.Function.setBody(func, r), funcName, visit);
}

/** walkFunction over one expression tree; replaceRoot replaces root in its parent. */
export function walkExpression(root: Ref, replaceRoot: Replace, funcName: string, visit: Visitor): void {
  // Stack of [expr, replace]; replace closes over the parent slot.
  const stack: Array<[Ref, Replace]> = [[root, replaceRoot]];
  while (stack.length) {
    const [expr, replace] = stack.pop()!;
    const id = binaryen.getExpressionId(expr);
    const spec = byId.get(id);
    if (!spec) throw new UnsupportedExpressionError(idNames.get(id) ?? `expression id ${id}`, funcName);
    let replaced = false;
    visit(expr, id, (r) => { replaced = true; replace(r); });
    if (replaced) continue;
    const api = B[spec.cls];
    for (const f of spec.fields) {
      const child = api[`get${f}`](expr) as Ref;
      if (child) stack.push([child, (r) => api[`set${f}`](expr, r)]);
    }
    for (const [getNum, getAt, setAt] of spec.lists) {
      const n = api[getNum](expr) as number;
      for (let i = n - 1; i >= 0; i--) {
        const child = api[getAt](expr, i) as Ref;
        if (child) stack.push([child, (r) => api[setAt](expr, i, r)]);
      }
    }
  }
}

export const ExpressionIds = {
  Loop: B.LoopId as number,
  Call: B.CallId as number,
  CallIndirect: B.CallIndirectId as number,
  MemoryGrow: B.MemoryGrowId as number,
  RefFunc: B.RefFuncId as number,
  Return: B.ReturnId as number,
  Block: B.BlockId as number,
  If: B.IfId as number,
  Binary: B.BinaryId as number,
  Const: B.ConstId as number,
  LocalGet: B.LocalGetId as number,
  LocalSet: B.LocalSetId as number,
  Break: B.BreakId as number,
  Switch: B.SwitchId as number,
  Try: B.TryId as number,
  Rethrow: B.RethrowId as number,
};
