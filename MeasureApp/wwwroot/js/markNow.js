// The Live page's "mark now" key: M (no modifier) marks every running measurement shown, unless the user is
// typing in a field. One listener per card, keyed by measurement id, removed when the card goes.
const listeners = new Map();

export function listen(key, dotnet) {
    stop(key);
    const handler = e => {
        if (e.repeat || e.ctrlKey || e.metaKey || e.altKey || (e.key !== 'm' && e.key !== 'M')) return;
        const t = e.target;
        if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName))) return;
        dotnet.invokeMethodAsync('OnMarkKeyAsync');
    };
    document.addEventListener('keydown', handler);
    listeners.set(key, handler);
}

export function stop(key) {
    const handler = listeners.get(key);
    if (handler) document.removeEventListener('keydown', handler);
    listeners.delete(key);
}
