// The page's look, injected with it (one file to serve).
export const STYLE = `
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2230; }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 18px; background: #1d2230; color: #fff; }
h1 { font-size: 16px; margin: 0; }
h2 { font-size: 14px; margin: 0 0 8px; }
section { background: #fff; margin: 12px 18px; padding: 12px 14px; border-radius: 8px; box-shadow: 0 1px 2px #0001; }
.status { padding: 1px 8px; border-radius: 10px; background: #666; }
.status.live { background: #1f8f4e; } .status.ended { background: #3b5bdb; } .status.lost { background: #c92a2a; }
.clock { opacity: .8; font-variant-numeric: tabular-nums; }
.pills { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 8px; }
.pill { padding: 2px 8px; border-radius: 10px; background: #e9ecef; font-variant-numeric: tabular-nums; }
.pill.completed { background: #d3f9d8; } .pill.executing { background: #ffe8a1; } .pill.failed, .pill.cancelled { background: #ffc9c9; }
table { border-collapse: collapse; width: 100%; max-height: 300px; }
td, th { text-align: left; padding: 1px 8px; border-bottom: 1px solid #eee; }
td.completed, td.Succeeded { color: #1f8f4e; } td.failed, td.Failed { color: #c92a2a; } td.executing { color: #b35c00; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 8px; }
.card { display: flex; flex-direction: column; align-items: flex-start; border: 1px solid #d0d5dd; border-radius: 6px; padding: 6px 10px; background: #fff; cursor: pointer; font: inherit; }
.card.selected { border-color: #f59f00; box-shadow: 0 0 0 2px #ffe066; }
.state-line { color: #555; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { max-width: 100%; height: auto; }
.list { max-height: 230px; overflow-y: auto; }
.chart-title { font-weight: 600; font-size: 12px; }
.state rect { fill: #fff; stroke: #8a94a6; }
.state.compound > rect, .state.parallel > rect { fill: #f8f9fb; }
.state.final > rect { stroke-width: 2.5; }
.state text { font-size: 11px; }
.state.on > rect { fill: #ffe066; stroke: #e67700; stroke-width: 2; }
.state.compound.on > rect, .state.parallel.on > rect { fill: #fff9db; }
.transition path { fill: none; stroke: #adb5bd; }
.transition text.event { font-size: 9px; fill: #6c757d; }
.arrowhead { fill: #adb5bd; }
#timeline { width: 100%; height: auto; }
#timeline text { font-size: 11px; }
.span { fill: #74c0fc; } .span.running { fill: #ffd43b; } .span.failed, .span.Failed, .span.cancelled { fill: #ff8787; }
`;
