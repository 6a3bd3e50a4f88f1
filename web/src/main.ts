import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';

const app = mount(App, { target: document.getElementById('app')! });

// Fetch the charting chunk while the first API answers are on their way (the landing page is the
// dashboard): its charts then paint as soon as their data arrives, not one more round trip later.
void import('./lib/charts/echarts');

export default app;
